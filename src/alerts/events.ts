/**
 * The events a webhook can subscribe to, as seed 002 names them: `ENTITY.EVENT`. Each comes from one place in the
 * sidecar, which tells the alerts room through a callback the sidecar wires (the sender, spool and SLA do not
 * import this room).
 */
export const ALERT_EVENTS = {
  /** The PCM answered DISCARDED, or a report became a dead letter (reason refused or too-old). */
  'REPORT.DISCARDED': 'reports the PCM discarded, or dead letters (refused, too old)',
  /** Reconciliation found a CLIENT and a SERVER report of one call that disagree (emitted by the reconciler). */
  'REPORT.PAIRED_INCONSISTENT': 'pairs whose two reports disagree (reconciliation)',
  /** Reconciliation found a report without its counterpart (emitted by the reconciler). */
  'REPORT.UNPAIRED': 'reports without a counterpart (reconciliation)',
  /** The backlog's oldest report or its size passed a threshold (raised), or came back under it (cleared). */
  'SPOOL.BACKLOG_HIGH': 'backlog oldest age or size above its threshold',
  /** A day cannot reach 95 % at the PCM by its deadline at the current drain rate (raised), or can again (cleared). */
  'SLA.AT_RISK': 'a day whose SLA is at risk',
  /** A lane is not ready because the token endpoint refuses its client (raised), or got a token again (cleared). */
  'TOKEN.FAILED': 'token requests refused (PCM_TOKEN_REFUSED)',
  /** Reports were accepted with quality findings: sent, but the PCM may open a data-quality ticket. */
  'QUALITY.FINDINGS': 'reports stored and sent with quality findings',
} as const;

export type AlertCode = keyof typeof ALERT_EVENTS;

export const ALERT_CODES = Object.keys(ALERT_EVENTS) as AlertCode[];

export function isAlertCode(code: string): code is AlertCode {
  return Object.hasOwn(ALERT_EVENTS, code);
}

/** Raised when a condition begins, cleared when it ends (SPOOL.BACKLOG_HIGH, SLA.AT_RISK, TOKEN.FAILED). */
export type AlertState = 'raised' | 'cleared';

/**
 * One occurrence, as its source reports it. Events with the same code, lane, organisation, day, state and reason
 * within PCM_ALERTS_AGGREGATE_MS become one notification: counts add up, the first fapiInteractionIds are kept as a
 * sample, the other fields are the first event's.
 */
export interface AlertEvent {
  code: AlertCode;
  /** How many things happened (reports discarded, pairs found); 1 when not given. */
  count?: number;
  lane?: string;
  orgId?: string;
  /** YYYY-MM-DD (BRT), for events about a day. */
  day?: string;
  state?: AlertState;
  /** A finer cause: the dead-letter reason (pcm, refused, too-old), a readiness code. */
  reason?: string;
  /** For people: the PCM's message, the readiness reason. */
  message?: string;
  /** Calls concerned; only the first few of a burst are sent (PCM_ALERTS_SAMPLE_SIZE). */
  fapiInteractionIds?: readonly string[];
  /** Further name/value details for the notification's `metadados` (the first event's win). */
  details?: Readonly<Record<string, string | number>>;
  /** When it happened (epoch ms); now when not given. */
  at?: number;
}

/** What a source calls: the reconciler gets one of these from the sidecar for REPORT.UNPAIRED and PAIRED_INCONSISTENT. */
export type AlertSink = (event: AlertEvent) => void;

/** The fields that keep bursts apart: events equal in these share a notification. */
export function aggregationKey(event: AlertEvent): string {
  return [event.code, event.lane ?? '', event.orgId ?? '', event.day ?? '', event.state ?? '', event.reason ?? ''].join('|');
}

/** The same key in the other state: a change of state closes the window of the state before it. */
export function oppositeKey(event: AlertEvent): string | null {
  if (event.state === undefined) return null;
  return aggregationKey({ ...event, state: event.state === 'raised' ? 'cleared' : 'raised' });
}
