/**
 * What reconciliation keeps of a sampled report, read from the JSON the spool stored (the normalised report, as
 * sent). Called only for reports the sample took: parsing every accepted report would cost the delivery path more
 * than everything else reconciliation does (README, "Reconciliation").
 */

export interface ReportFacts {
  fapiInteractionId: string;
  endpoint: string;
  role: 'CLIENT' | 'SERVER';
  httpMethod: string | null;
  statusCode: number | null;
  /** The other party's organisation: serverOrgId of a CLIENT report, clientOrgId of a SERVER one. */
  counterpartOrgId: string | null;
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** The facts of one private report; null for text that is not one (never thrown: a bad row only leaves the sample). */
export function reportFacts(json: string): ReportFacts | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const report = parsed as Record<string, unknown>;
  const fapiInteractionId = str(report.fapiInteractionId);
  const endpoint = str(report.endpoint);
  const role = report.role;
  if (fapiInteractionId === null || fapiInteractionId === '' || endpoint === null || (role !== 'CLIENT' && role !== 'SERVER')) return null;
  return {
    fapiInteractionId: fapiInteractionId.toLowerCase(),
    endpoint,
    role,
    httpMethod: str(report.httpMethod),
    statusCode: typeof report.statusCode === 'number' ? report.statusCode : null,
    counterpartOrgId: str(role === 'CLIENT' ? report.serverOrgId : report.clientOrgId)?.toLowerCase() ?? null,
  };
}
