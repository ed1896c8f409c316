/**
 * What the PCM says of a report after reconciliation (pcm-rules.md §9), as its GET by fapiInteractionId answers it
 * (`ReportModel.status` of pcm-openapi-current.yaml), and what the sidecar does with each status.
 */

/** §9.2 statuses in the PCM's own spelling. */
export const PCM_STATUSES = ['PAIRED', 'PAIRED_INCONSISTENT', 'UNPAIRED', 'SINGLE', 'ACCEPTED', 'DISCARDED'] as const;
export type PcmStatus = (typeof PCM_STATUSES)[number];

/** What an ask records: a PCM status, or NOT_FOUND when the PCM shows no such report to this organisation (404). */
export type RecordedStatus = PcmStatus | 'NOT_FOUND';
export const RECORDED_STATUSES: readonly RecordedStatus[] = [...PCM_STATUSES, 'NOT_FOUND'];

/** §9.3, §10: the divergent statuses, which count against the SLA (at most 1 % of expected reports). */
export const DIVERGENT_STATUSES = ['UNPAIRED', 'PAIRED_INCONSISTENT'] as const;
export type DivergentStatus = (typeof DIVERGENT_STATUSES)[number];

export function isDivergent(status: string | null): status is DivergentStatus {
  return status === 'UNPAIRED' || status === 'PAIRED_INCONSISTENT';
}

/**
 * Asked again later: UNPAIRED may still pair (the PCM's Fechamento re-runs pairing on pending records), ACCEPTED is
 * not reconciled yet, NOT_FOUND not visible yet (the GET is eventually consistent, says the OpenAPI). The others are
 * final for the sidecar: PAIRED and SINGLE are terminal (§9.2), DISCARDED too, and PAIRED_INCONSISTENT changes only
 * by divergence resolution, a process the PCM has not defined ("processo a ser definido").
 */
export function isAskedAgain(status: RecordedStatus): boolean {
  return status === 'UNPAIRED' || status === 'ACCEPTED' || status === 'NOT_FOUND';
}

/**
 * The status of an answer. The current OpenAPI spells one value `'PAIRED '` (a trailing space, §13 item 8, fixed in
 * release 2026C), so the value is trimmed; anything else unknown is no status.
 */
export function parseStatus(value: unknown): PcmStatus | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return (PCM_STATUSES as readonly string[]).includes(trimmed) ? (trimmed as PcmStatus) : null;
}

/** §9.1: the fields both reports of a pair must agree on. */
export const CONSISTENCY_FIELDS = ['clientOrgId', 'serverOrgId', 'statusCode', 'httpMethod', 'endpoint'] as const;
export type ConsistencyField = (typeof CONSISTENCY_FIELDS)[number];

const FIELD_NAMES = new RegExp(`\\b(${CONSISTENCY_FIELDS.join('|')})\\b`, 'g');

/**
 * The fields on which the counterpart differs, where the answer names them. The OpenAPI's ReportModel carries none
 * (only status and pairedReportId); a `message` naming §9.1 fields (the emulator's "Inconsistent fields: statusCode")
 * is read for them. Null when the answer names none.
 */
export function differingFields(message: unknown): ConsistencyField[] | null {
  if (typeof message !== 'string' || message.length > 1000) return null;
  const found = new Set<ConsistencyField>();
  for (const match of message.matchAll(FIELD_NAMES)) found.add(match[1] as ConsistencyField);
  return found.size > 0 ? CONSISTENCY_FIELDS.filter((f) => found.has(f)) : null;
}
