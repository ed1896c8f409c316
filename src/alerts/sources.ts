import type { QualityFindings } from '../ingest/server.js';
import type { DiscardedReports } from '../sender/lane.js';
import type { ReadinessChange } from '../sender/readiness.js';
import type { DayVerdict } from '../sla/assess.js';
import type { AlertEvent } from './events.js';

/**
 * The events of each source, from what its hook reports. Pure; the sources know nothing of alerts, the sidecar
 * passes their hooks' arguments here.
 */

/** A report's fapiInteractionId, read from its stored JSON; null when it has none. */
function fapiOf(body: string): string | null {
  try {
    const value = (JSON.parse(body) as { fapiInteractionId?: unknown }).fapiInteractionId;
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** The first `n` fapiInteractionIds of stored reports (only those are parsed). */
function sampleOf(bodies: readonly string[], n: number): string[] {
  const out: string[] = [];
  for (const body of bodies) {
    if (out.length >= n) break;
    const id = fapiOf(body);
    if (id !== null) out.push(id);
  }
  return out;
}

/** `private:<orgId>` → the orgId. */
function orgOfLane(lane: string): string | undefined {
  const i = lane.indexOf(':');
  return i < 0 ? undefined : lane.slice(i + 1);
}

/** REPORT.DISCARDED: the PCM answered DISCARDED (reason pcm) or refused a report until it stood alone (refused). */
export function discardedEvent(d: DiscardedReports, sampleSize: number): AlertEvent {
  return {
    code: 'REPORT.DISCARDED',
    count: d.bodies.length,
    lane: d.lane,
    orgId: d.orgId,
    reason: d.reason,
    ...(d.message === null ? {} : { message: d.message }),
    fapiInteractionIds: sampleOf(d.bodies, sampleSize),
  };
}

/** REPORT.DISCARDED with reason too-old: reports past the PCM's age limit before their turn came. */
export function tooOldEvent(lane: string, bodies: readonly string[], message: string, sampleSize: number): AlertEvent {
  const orgId = orgOfLane(lane);
  return { code: 'REPORT.DISCARDED', count: bodies.length, lane, ...(orgId ? { orgId } : {}), reason: 'too-old', message, fapiInteractionIds: sampleOf(bodies, sampleSize) };
}

const TOKEN_REFUSED = 'PCM_TOKEN_REFUSED';

/** TOKEN.FAILED raised when a lane becomes not ready for a refused token request, cleared when that cause ends. */
export function readinessEvent(change: ReadinessChange): AlertEvent | null {
  const orgId = orgOfLane(change.lane);
  const base = { code: 'TOKEN.FAILED' as const, lane: change.lane, ...(orgId ? { orgId } : {}) };
  if (change.code === TOKEN_REFUSED && change.previousCode !== TOKEN_REFUSED) {
    return { ...base, state: 'raised', ...(change.reason === null ? {} : { message: change.reason }) };
  }
  if (change.previousCode === TOKEN_REFUSED && change.code !== TOKEN_REFUSED) {
    const message = change.ready ? 'a token was obtained; the lane is ready' : `a token was obtained; the lane is still not ready: ${change.code ?? ''}`;
    return { ...base, state: 'cleared', message };
  }
  return null;
}

/** SLA.AT_RISK raised or cleared for one day. */
export function slaEvent(verdict: DayVerdict): AlertEvent {
  const share = (x: number | null): string => (x === null ? 'null' : x.toFixed(4));
  return {
    code: 'SLA.AT_RISK',
    // A day that missed its deadline is not a risk that went away: it stays raised, with the outcome.
    state: verdict.atRisk || verdict.outcome === 'missed' ? 'raised' : 'cleared',
    day: verdict.day,
    count: verdict.pending,
    message: verdict.atRisk
      ? `day ${verdict.day} cannot reach 95 % at the PCM by ${verdict.deadline} at the current drain rate`
      : verdict.outcome === 'missed'
        ? `day ${verdict.day} missed 95 % at the PCM by ${verdict.deadline}`
        : verdict.outcome === 'met'
          ? `day ${verdict.day} met 95 % at the PCM by ${verdict.deadline}`
          : `day ${verdict.day} is no longer at risk`,
    details: {
      deadline: verdict.deadline,
      received: verdict.received,
      onTime: verdict.onTime,
      pending: verdict.pending,
      projectedShare: share(verdict.projectedShare),
      onTimeShare: share(verdict.onTimeShare),
      outcome: verdict.outcome,
    },
  };
}

/** Rules named in a QUALITY.FINDINGS notification at most (the most frequent in the first event). */
const MAX_RULES_NAMED = 10;

/** QUALITY.FINDINGS: reports stored and sent with findings; the PCM may open a data-quality ticket. */
export function qualityEvent(found: QualityFindings): AlertEvent {
  const rules = Object.entries(found.byRule)
    .sort((a, b) => b[1] - a[1])
    .slice(0, MAX_RULES_NAMED)
    .map(([rule, n]) => `${rule}=${n}`)
    .join(',');
  return { code: 'QUALITY.FINDINGS', count: found.reports, message: 'reports accepted with quality findings', fapiInteractionIds: found.fapiInteractionIds, details: { rules } };
}

/** What reconciliation reports about pairs (src/reconcile/ calls the sidecar's callback with this). */
export interface PairingFinding {
  kind: 'UNPAIRED' | 'PAIRED_INCONSISTENT';
  orgId?: string;
  lane?: string;
  count: number;
  fapiInteractionIds?: readonly string[];
  /** For PAIRED_INCONSISTENT: the fields that differ (statusCode, endpoint …). */
  message?: string;
}

/** REPORT.UNPAIRED and REPORT.PAIRED_INCONSISTENT, from reconciliation. */
export function pairingEvent(found: PairingFinding): AlertEvent {
  return {
    code: found.kind === 'UNPAIRED' ? 'REPORT.UNPAIRED' : 'REPORT.PAIRED_INCONSISTENT',
    count: found.count,
    ...(found.orgId === undefined ? {} : { orgId: found.orgId }),
    ...(found.lane === undefined ? {} : { lane: found.lane }),
    ...(found.message === undefined ? {} : { message: found.message }),
    ...(found.fapiInteractionIds === undefined ? {} : { fapiInteractionIds: found.fapiInteractionIds }),
  };
}
