import { buildReport, type BuildContext } from '../report/build.js';
import type { ReportProblem } from '../report/problem.js';
import { prepareReport, type ValidationContext, type ValidationResult } from '../report/validate.js';
import type { GatewayOptions, MappingResult } from './gateways/common.js';
import { fromEnvoy } from './gateways/envoy.js';
import { fromKong } from './gateways/kong.js';
import { fromNginx } from './gateways/nginx.js';

/**
 * How each ingest route turns one body item into a report for the spool. Shared by the HTTP server and by
 * `quarantine replay`, which reads a refused item again the way it first came in.
 */
export type ToReport = (value: unknown, context: ValidationContext, query: URLSearchParams) => RouteResult;

/** An item that is not an Open Finance call at all (a health check): neither a report nor a refusal. */
export interface Skipped {
  ok: false;
  skipped: string;
  problems: ReportProblem[];
}

export type RouteResult = ValidationResult | Skipped;

type Refused = { ok: false; problems: ReportProblem[] };

function roleOption(query: URLSearchParams): { role?: 'CLIENT' | 'SERVER' } {
  const role = query.get('role')?.toUpperCase();
  return role === 'CLIENT' || role === 'SERVER' ? { role } : {};
}

/**
 * `?orgId=` names this participant's organisation for interactions that do not say it, so a gateway serving
 * several organisations can post each one's log to its own URL; `?role=` does the same for the role, so a log
 * format need not carry it as a literal. The item's own value wins.
 */
function withQueryDefaults(value: unknown, query: URLSearchParams): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const orgId = query.get('orgId');
  const { role } = roleOption(query);
  const out = { ...value } as Record<string, unknown>;
  if (orgId && !Object.hasOwn(out, 'orgId')) out.orgId = orgId;
  if (role && !Object.hasOwn(out, 'role')) out.role = role;
  return out;
}

/**
 * `?orgId=` on /v1/reports names the organisation of opendata reports, which carry none: an agent forwarding its
 * opendata lane (src/sender/forward.ts) keeps it that organisation's here, whatever this sidecar's own
 * PCM_OPENDATA_ORG_ID. It must be an organisation this sidecar reports for. Private reports name their reporter
 * themselves (clientOrgId or serverOrgId), which wins, as on the other routes.
 */
function reportWithOrg(value: unknown, context: ValidationContext, query: URLSearchParams): ValidationResult {
  const orgId = query.get('orgId')?.toLowerCase();
  if (!orgId || orgId === context.opendataOrgId) return prepareReport(value, context);
  const result = prepareReport(value, { ...context, opendataOrgId: orgId });
  if (!result.ok || result.stream !== 'opendata' || context.reporterOrgIds === null || context.reporterOrgIds.has(orgId)) return result;
  return {
    ok: false,
    problems: [{ field: 'orgId', rule: 'reporter_org', message: `orgId '${orgId}' (?orgId=) is not an organisation this sidecar reports for`, value: orgId, severity: 'discard' }],
  };
}

export interface RouteOptions {
  /** URL paths that are not Open Finance calls (PCM_INGEST_SKIP_PATHS): counted as skipped, never quarantined. */
  skipPaths: RegExp | null;
}

/** The path of a URL or of a bare path, for the skip rule; null when it is neither. */
function pathOf(url: string): string | null {
  try {
    return new URL(url, 'http://path.invalid').pathname;
  } catch {
    return null;
  }
}

export function ingestRoutes(build: BuildContext, options: RouteOptions = { skipPaths: null }): Record<string, ToReport> {
  const skip = (url: unknown): Skipped | null => {
    if (options.skipPaths === null || typeof url !== 'string') return null;
    const path = pathOf(url);
    return path !== null && options.skipPaths.test(path) ? { ok: false, skipped: `path ${path} matches PCM_INGEST_SKIP_PATHS`, problems: [] } : null;
  };
  const fromInteraction = (value: unknown, context: ValidationContext, query: URLSearchParams): RouteResult => {
    const skipped = value !== null && typeof value === 'object' && !Array.isArray(value) ? skip((value as Record<string, unknown>).url) : null;
    if (skipped) return skipped;
    const built = buildReport(withQueryDefaults(value, query), build);
    return built.ok ? prepareReport(built.item, context) : (built as Refused);
  };
  const fromGateway =
    (map: (value: unknown, options: GatewayOptions) => MappingResult): ToReport =>
    (value, context, query) => {
      const mapped = map(value, roleOption(query));
      if (mapped.ok) return fromInteraction(mapped.interaction, context, query);
      return skip(mapped.url) ?? { ok: false, problems: mapped.problems };
    };
  return {
    '/v1/reports': reportWithOrg,
    '/v1/interactions': (value, context, query) => fromInteraction(value, context, query),
    '/v1/gateways/kong': fromGateway(fromKong),
    '/v1/gateways/envoy': fromGateway(fromEnvoy),
    '/v1/gateways/nginx': fromGateway(fromNginx),
  };
}
