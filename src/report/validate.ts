import type { z } from 'zod';
import { clientReportSchema, serverReportSchema, ROLES, type PrivateReport } from './schema.js';

/** One reason an item is refused: the field, the rule it broke, and a message in the PCM's wording where there is one. */
export interface ReportProblem {
  field: string;
  rule: string;
  message: string;
}

export interface ValidReport {
  ok: true;
  report: PrivateReport;
  /** The exact JSON text that will go to the PCM, kept so a batch is a concatenation. */
  json: string;
  /** The organisation whose token must carry this report. */
  reporterOrgId: string;
  /** Identity for de-duplication: role, fapiInteractionId, endpoint, httpMethod, timestamp. */
  dedupKey: string;
}

export interface InvalidReport {
  ok: false;
  problems: ReportProblem[];
}

export type ValidationResult = ValidReport | InvalidReport;

export interface ValidationContext {
  /** Organisations this sidecar holds credentials for; a report must be reported by one of them. */
  reporterOrgIds: ReadonlySet<string>;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function toProblems(issues: readonly z.core.$ZodIssue[], input: Record<string, unknown>): ReportProblem[] {
  const problems: ReportProblem[] = [];
  const missing: string[] = [];
  for (const issue of issues) {
    const field = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ field: key, rule: 'unrecognized_key', message: `Additional property not allowed: '${key}'` });
      }
    } else if (issue.path.length === 1 && input[field] === undefined) {
      // Whatever the schema expected there (a type, an enum, a literal), the PCM calls an absent key missing.
      missing.push(field);
    } else if (issue.code === 'invalid_type') {
      const got = describe(issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown>)?.[k], input));
      problems.push({
        field,
        rule: 'type',
        message: `Field type mismatch: ${field}: expected ${issue.expected}, received ${got}`,
      });
    } else if (issue.code === 'invalid_value') {
      const allowed = issue.values.map((v) => `'${String(v)}'`).join(' | ');
      problems.push({ field, rule: 'enum', message: `Invalid field value: ${field}: expected ${allowed}` });
    } else {
      problems.push({ field, rule: issue.code, message: `Invalid field value: ${field}: ${issue.message}` });
    }
  }
  if (missing.length > 0) {
    problems.unshift({ field: missing.join(','), rule: 'required', message: `Missing fields: ${missing.join(', ')}` });
  }
  return problems;
}

/** Validates one private report as the PCM's schema would. Pure: no clock, no I/O. */
export function validatePrivateReport(item: unknown, context: ValidationContext): ValidationResult {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    return {
      ok: false,
      problems: [{ field: '', rule: 'type', message: `Invalid payload format: each report must be an object, received ${describe(item)}` }],
    };
  }
  const input = item as Record<string, unknown>;
  const role = input.role;
  if (role === undefined) {
    return { ok: false, problems: [{ field: 'role', rule: 'required', message: 'Missing fields: role' }] };
  }
  if (role !== 'CLIENT' && role !== 'SERVER') {
    return {
      ok: false,
      problems: [
        { field: 'role', rule: 'enum', message: `Invalid field value: role: expected ${ROLES.map((r) => `'${r}'`).join(' | ')}` },
      ],
    };
  }
  const parsed = role === 'CLIENT' ? clientReportSchema.safeParse(input) : serverReportSchema.safeParse(input);
  if (!parsed.success) return { ok: false, problems: toProblems(parsed.error.issues, input) };

  const report = parsed.data;
  const reporterOrgId = report.role === 'CLIENT' ? report.clientOrgId : report.serverOrgId;
  const reporterField = report.role === 'CLIENT' ? 'clientOrgId' : 'serverOrgId';
  if (!context.reporterOrgIds.has(reporterOrgId.toLowerCase())) {
    return {
      ok: false,
      problems: [
        {
          field: reporterField,
          rule: 'reporter_org',
          message: `Requester id mismatch with ${reporterField}: '${reporterOrgId}' is not an organisation this sidecar reports for`,
        },
      ],
    };
  }
  return {
    ok: true,
    report,
    json: JSON.stringify(report),
    reporterOrgId: reporterOrgId.toLowerCase(),
    dedupKey: dedupKeyOf(report),
  };
}

export function dedupKeyOf(report: PrivateReport): string {
  return [report.role, report.fapiInteractionId.toLowerCase(), report.endpoint, report.httpMethod, report.timestamp].join('|');
}
