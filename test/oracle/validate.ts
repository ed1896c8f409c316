import type { z } from 'zod';
import { additionalInfoProblems } from './additional-info.js';
import { normaliseReport } from './normalise.js';
import { jsonType as describe, shown, type ReportProblem } from '../../src/report/problem.js';
import { actionOf, ruleInfo, type RuleAction, type RulePolicy } from '../../src/report/rules.js';
import type { EndpointTemplates } from '../../src/report/template.js';
import type { ValidationContext, ValidationResult } from '../../src/report/validate.js';
import {
  ADDITIONAL_INFO_TYPE,
  clientReportSchema,
  opendataReportSchema,
  ROLES,
  serverReportSchema,
  type AnyReport,
  type PrivateReport,
} from './schema.js';

/**
 * The oracle: prepareReport as it was before issue #9 (zod schemas, zod issues turned into problems), kept unchanged
 * so the differential test (test/property/differential.test.ts) can compare the compiled validator in src/ with it on
 * any input. Not used by src/. Its own copies of the modules the compiled validator replaced sit next to it.
 */

/**
 * Sorts a report's problems by what the policy does with them: one `refuse` makes the report invalid, `send` ones
 * travel with it as findings, `ignore` ones go. Each problem is labelled with its rule's severity.
 */
function judged(problems: readonly ReportProblem[], policy: RulePolicy): { refused: ReportProblem[]; findings: ReportProblem[] } {
  const refused: ReportProblem[] = [];
  const findings: ReportProblem[] = [];
  for (const p of problems) {
    const action: RuleAction = actionOf(p.rule, policy);
    const labelled = { ...p, severity: ruleInfo(p.rule).severity };
    if (action === 'refuse') refused.push(labelled);
    else if (action === 'send') findings.push(labelled);
  }
  return { refused, findings };
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const INT16_MAX = 32_767;
const UUID_FIELDS = ['fapiInteractionId', 'clientOrgId', 'serverOrgId', 'clientSSId'] as const;

function valueAt(input: Record<string, unknown>, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((v, k) => (v === null || typeof v !== 'object' ? undefined : (v as Record<PropertyKey, unknown>)[k]), input);
}

function toProblems(issues: readonly z.core.$ZodIssue[], input: Record<string, unknown>): ReportProblem[] {
  const problems: ReportProblem[] = [];
  const missing: string[] = [];
  for (const issue of issues) {
    const field = issue.path.map(String).join('.');
    const value = valueAt(input, issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ field: key, rule: 'unrecognized_key', message: `Additional property not allowed: '${key}'`, value: input[key] });
      }
    } else if (issue.path.length === 1 && input[field] === undefined) {
      // Whatever the schema expected there (a type, an enum, a literal), the PCM calls an absent key missing.
      missing.push(field);
    } else if (value === null) {
      problems.push({ field, rule: 'not_null', message: `Missing property, ${field} can't be empty (null)`, value });
    } else if (issue.code === 'custom' && issue.message === ADDITIONAL_INFO_TYPE) {
      problems.push({ field, rule: 'type', message: `Field type mismatch: ${field}: expected object, received ${describe(value)}`, value });
    } else if (issue.code === 'invalid_type') {
      problems.push({ field, rule: 'type', message: `Field type mismatch: ${field}: expected ${issue.expected}, received ${describe(value)}`, value });
    } else if (issue.code === 'invalid_value') {
      const allowed = issue.values.map((v) => `'${shown(v)}'`).join(' | ');
      problems.push({ field, rule: 'enum', message: `Invalid enum value. Expected ${allowed}, received '${shown(value)}'`, value });
    } else if (issue.code === 'too_small' && value === '') {
      problems.push({ field, rule: 'range', message: `Invalid field value: ${field} should not be empty`, value });
    } else if (issue.code === 'too_small' || issue.code === 'too_big') {
      const rule = field === 'statusCode' ? 'statusCode must be between 200 and 599' : issue.message;
      problems.push({ field, rule: 'range', message: `Invalid field value: ${field}: ${rule}`, value });
    } else {
      problems.push({ field, rule: 'format', message: `Invalid format: ${field}: ${issue.message}`, value });
    }
  }
  if (missing.length > 0) {
    problems.unshift({ field: missing.join(','), rule: 'required', message: `Missing fields: ${missing.join(', ')}` });
  }
  return problems;
}

/** Rules beyond the schema that both roles and opendata share: listed endpoint, timespan, time window. */
function commonProblems(report: AnyReport, templates: EndpointTemplates, context: ValidationContext): ReportProblem[] {
  const problems: ReportProblem[] = [];
  if (!templates.has(report.endpoint)) {
    problems.push({ field: 'endpoint', rule: 'listed_endpoint', message: `Unlisted endpoint: ${shown(report.endpoint)}`, value: report.endpoint });
  }
  const span = report.processTimespan;
  // §3.5: greater than zero; a fraction is fine when the type is `number` (the integer mode refuses it below).
  if (!(span > 0)) {
    problems.push({ field: 'processTimespan', rule: 'positive', message: 'Invalid field value: processTimespan must be greater than zero', value: span });
  } else if (context.rules.processTimespan === 'integer' && !Number.isInteger(span)) {
    problems.push({ field: 'processTimespan', rule: 'integer', message: 'Field type mismatch: processTimespan: expected integer milliseconds', value: span });
  } else if (context.rules.processTimespan === 'integer' && span > INT16_MAX) {
    // §13.4: the specs that say integer say int16.
    problems.push({ field: 'processTimespan', rule: 'int16', message: `Invalid field value: processTimespan must be at most ${INT16_MAX} (int16)`, value: span });
  }
  const at = Date.parse(report.timestamp);
  // Date.parse rolls 2026-02-30 over to March: only a timestamp that reads back the same is a real one.
  if (Number.isNaN(at) || new Date(at).toISOString() !== report.timestamp) {
    problems.push({ field: 'timestamp', rule: 'format', message: 'Invalid field value: Invalid timestamp format', value: report.timestamp });
  } else if (at < context.now - context.rules.maxAgeMs) {
    problems.push({ field: 'timestamp', rule: 'max_age', message: 'Report is too old', value: report.timestamp });
  } else if (at > context.now + context.rules.maxFutureMs) {
    problems.push({
      field: 'timestamp',
      rule: 'max_future',
      message: `Invalid field value: timestamp is more than ${Math.round(context.rules.maxFutureMs / 60_000)} minutes in the future`,
      value: report.timestamp,
    });
  }
  return problems;
}

function privateProblems(report: PrivateReport, context: ValidationContext): ReportProblem[] {
  const problems = commonProblems(report, context.privateTemplates, context);
  for (const field of UUID_FIELDS) {
    const value = (report as Record<string, unknown>)[field];
    if (value === NIL_UUID) {
      const message =
        field === 'fapiInteractionId'
          ? `fapiInteractionId mismatch. Ensure the ID is not "${NIL_UUID}."`
          : `Invalid field value: ${field} must not be the nil UUID`;
      problems.push({ field, rule: 'nil_uuid', message, value });
    }
  }
  // §3.2: https://host[/prefix]. The PCM's schema only constrains the characters, so the shape is a remark.
  if (report.role === 'CLIENT' && !/^https?:\/\/[^/?#\s]+/.test(report.endpointUriPrefix)) {
    problems.push({
      field: 'endpointUriPrefix',
      rule: 'endpointUriPrefix.shape',
      message: 'Invalid format: endpointUriPrefix: must start with https://host (https://{host}/{prefixo}, §3.2)',
      value: report.endpointUriPrefix,
    });
  }
  const reporterField = report.role === 'CLIENT' ? 'clientOrgId' : 'serverOrgId';
  const reporterOrgId = report.role === 'CLIENT' ? report.clientOrgId : report.serverOrgId;
  if (context.reporterOrgIds !== null && !context.reporterOrgIds.has(reporterOrgId.toLowerCase())) {
    problems.push({
      field: reporterField,
      rule: 'reporter_org',
      message: `${reporterField} '${reporterOrgId}' is invalid to role '${report.role}': not an organisation this sidecar reports for`,
      value: reporterOrgId,
    });
  }
  problems.push(
    ...additionalInfoProblems(
      report.additionalInfo,
      { role: report.role, httpMethod: report.httpMethod, endpoint: report.endpoint, statusCode: report.statusCode, stream: 'private' },
      context.rules,
    ),
  );
  return problems;
}

function privateDedupKey(report: PrivateReport): string {
  return [report.role, report.fapiInteractionId.toLowerCase(), report.endpoint, report.httpMethod, report.timestamp].join('|');
}

/** Normalises and validates one item; returns the report to spool, or every reason it cannot be sent. */
export function prepareReport(item: unknown, context: ValidationContext): ValidationResult {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    return {
      ok: false,
      problems: [{ field: '', rule: 'type', message: `Invalid payload format: each report must be an object, received ${describe(item)}` }],
    };
  }
  const { item: input, stream, repairs } = normaliseReport(item as Record<string, unknown>, context);

  if (stream === 'opendata') {
    const parsed = opendataReportSchema.safeParse(input);
    if (!parsed.success) return { ok: false, problems: judged(toProblems(parsed.error.issues, input), context.rules).refused };
    const report = parsed.data;
    const problems = commonProblems(report, context.opendataTemplates, context);
    problems.push(
      ...additionalInfoProblems(
        report.additionalInfo,
        { role: 'SERVER', httpMethod: report.httpMethod, endpoint: report.endpoint, statusCode: report.statusCode, stream: 'opendata' },
        context.rules,
      ),
    );
    if (context.opendataOrgId === null && context.reporterOrgIds !== null) {
      problems.push({ field: '', rule: 'opendata_org', message: 'no organisation is configured to send opendata reports (opendataOrgId)' });
    }
    const { refused, findings } = judged(problems, context.rules);
    if (refused.length > 0) return { ok: false, problems: refused, findings };
    const clientIp = typeof report.additionalInfo.clientIp === 'string' ? report.additionalInfo.clientIp : '';
    return {
      ok: true,
      stream,
      report,
      json: JSON.stringify(report),
      reporterOrgId: context.opendataOrgId ?? '',
      dedupKey: ['OPENDATA', report.endpoint, report.httpMethod, report.timestamp, report.statusCode, report.processTimespan, clientIp].join('|'),
      fapiInteractionId: null,
      listed: context.opendataTemplates.has(report.endpoint),
      repairs,
      findings,
    };
  }

  const role = input.role;
  if (role !== 'CLIENT' && role !== 'SERVER') {
    return {
      ok: false,
      problems: [
        {
          field: 'role',
          rule: 'enum',
          message: `Invalid enum value. Expected ${ROLES.map((r) => `'${r}'`).join(' | ')}, received '${shown(role)}'`,
          value: role,
        },
      ],
    };
  }
  const parsed = role === 'CLIENT' ? clientReportSchema.safeParse(input) : serverReportSchema.safeParse(input);
  if (!parsed.success) return { ok: false, problems: judged(toProblems(parsed.error.issues, input), context.rules).refused };
  const report = parsed.data;
  const { refused, findings } = judged(privateProblems(report, context), context.rules);
  if (refused.length > 0) return { ok: false, problems: refused, findings };
  return {
    ok: true,
    stream,
    report,
    json: JSON.stringify(report),
    reporterOrgId: (report.role === 'CLIENT' ? report.clientOrgId : report.serverOrgId).toLowerCase(),
    dedupKey: privateDedupKey(report),
    fapiInteractionId: report.fapiInteractionId.toLowerCase(),
    listed: context.privateTemplates.has(report.endpoint),
    repairs,
    findings,
  };
}
