/**
 * The PCM's reconciliation (pcm-rules.md §9), as pure functions: CLIENT and SERVER reports with the same
 * fapiInteractionId are compared on the consistency fields; no counterpart after the window leaves a report UNPAIRED,
 * or SINGLE where pairing is impossible by nature.
 */

export type PairStatus = 'PAIRED' | 'PAIRED_INCONSISTENT';
export type FinalStatus = 'ACCEPTED' | 'DISCARDED' | 'PAIRED' | 'PAIRED_INCONSISTENT' | 'UNPAIRED' | 'SINGLE';

/** §9.1: the fields both sides must agree on. */
export const CONSISTENCY_FIELDS = ['clientOrgId', 'serverOrgId', 'statusCode', 'httpMethod', 'endpoint'] as const;

const SECURITY_ENDPOINTS = new Set(['/token', '/register', '/register/{clientId}', '/revocation', '/introspection', '/pushed-authorization-request']);

export interface PairableReport {
  role?: unknown;
  endpoint?: unknown;
  statusCode?: unknown;
  [key: string]: unknown;
}

export function comparePair(a: PairableReport, b: PairableReport): { status: PairStatus; differing: string[] } {
  const differing = CONSISTENCY_FIELDS.filter((field) => a[field] !== b[field]);
  return { status: differing.length === 0 ? 'PAIRED' : 'PAIRED_INCONSISTENT', differing };
}

/**
 * What an accepted report without a counterpart becomes when its window closes: SINGLE for opendata, security
 * endpoints (only the client reports them) and a client's timeout (seed 000, "Cenário 3"); UNPAIRED otherwise,
 * which a late counterpart can still turn into PAIRED.
 */
export function withoutCounterpart(stream: 'private' | 'opendata', report: PairableReport): 'SINGLE' | 'UNPAIRED' {
  if (stream === 'opendata') return 'SINGLE';
  if (typeof report.endpoint === 'string' && SECURITY_ENDPOINTS.has(report.endpoint)) return 'SINGLE';
  if (report.role === 'CLIENT' && report.statusCode === 408) return 'SINGLE';
  return 'UNPAIRED';
}
