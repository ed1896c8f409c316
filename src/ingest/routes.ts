import { buildReport, type BuildContext } from '../report/build.js';
import type { ReportProblem } from '../report/problem.js';
import { prepareReport, type ValidationContext, type ValidationResult } from '../report/validate.js';
import { fromEnvoy } from './gateways/envoy.js';
import { fromKong } from './gateways/kong.js';

/**
 * How each ingest route turns one body item into a report for the spool. Shared by the HTTP server and by
 * `quarantine replay`, which reads a refused item again the way it first came in.
 */
export type ToReport = (value: unknown, context: ValidationContext, query: URLSearchParams) => ValidationResult;

type Refused = { ok: false; problems: ReportProblem[] };

function roleOption(query: URLSearchParams): { role?: 'CLIENT' | 'SERVER' } {
  const role = query.get('role')?.toUpperCase();
  return role === 'CLIENT' || role === 'SERVER' ? { role } : {};
}

/**
 * `?orgId=` names this participant's organisation for interactions that do not say it, so a gateway serving
 * several organisations can post each one's log to its own URL.
 */
function withOrg(value: unknown, query: URLSearchParams): unknown {
  const orgId = query.get('orgId');
  if (!orgId || value === null || typeof value !== 'object' || Array.isArray(value) || 'orgId' in value) return value;
  return { ...value, orgId };
}

export function ingestRoutes(build: BuildContext): Record<string, ToReport> {
  const fromInteraction = (value: unknown, context: ValidationContext, query: URLSearchParams): ValidationResult => {
    const built = buildReport(withOrg(value, query), build);
    return built.ok ? prepareReport(built.item, context) : (built as Refused);
  };
  return {
    '/v1/reports': (value, context) => prepareReport(value, context),
    '/v1/interactions': (value, context, query) => fromInteraction(value, context, query),
    '/v1/gateways/kong': (value, context, query) => {
      const mapped = fromKong(value, roleOption(query));
      return mapped.ok ? fromInteraction(mapped.interaction, context, query) : mapped;
    },
    '/v1/gateways/envoy': (value, context, query) => {
      const mapped = fromEnvoy(value, roleOption(query));
      return mapped.ok ? fromInteraction(mapped.interaction, context, query) : mapped;
    },
  };
}
