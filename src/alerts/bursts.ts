import { aggregationKey, oppositeKey, type AlertCode, type AlertEvent } from './events.js';

/**
 * Aggregation: events with one key (events.ts) within `aggregateMs` of the first become one burst, which becomes one
 * notification per subscription when its window closes. 10,000 DISCARDED answers in a minute are one notification
 * with their count and the first few fapiInteractionIds, not 10,000 requests to the receiver.
 */

/** What a burst says besides its counts: the first event's fields. */
export type BurstFields = Pick<AlertEvent, 'lane' | 'orgId' | 'day' | 'state' | 'reason' | 'message' | 'details'>;

export interface Burst {
  key: string;
  /** Order of opening, kept across restarts: notifications are made in this order. */
  seq: number;
  code: AlertCode;
  openedAt: number;
  closesAt: number;
  /** When its first and last events happened. */
  firstAt: number;
  lastAt: number;
  /** Sum of the events' counts. */
  count: number;
  /** Events folded in. */
  events: number;
  sample: string[];
  fields: BurstFields;
}

function fieldsOf(event: AlertEvent): BurstFields {
  const fields: BurstFields = {};
  if (event.lane !== undefined) fields.lane = event.lane;
  if (event.orgId !== undefined) fields.orgId = event.orgId;
  if (event.day !== undefined) fields.day = event.day;
  if (event.state !== undefined) fields.state = event.state;
  if (event.reason !== undefined) fields.reason = event.reason;
  if (event.message !== undefined) fields.message = event.message;
  if (event.details !== undefined) fields.details = { ...event.details };
  return fields;
}

export class Bursts {
  private readonly open = new Map<string, Burst>();
  private readonly dirty = new Set<string>();
  private nextSeq: number;

  constructor(
    private readonly aggregateMs: number,
    private readonly sampleSize: number,
    restored: readonly Burst[] = [],
  ) {
    for (const burst of restored) this.open.set(burst.key, burst);
    this.nextSeq = restored.reduce((max, b) => Math.max(max, b.seq), 0) + 1;
  }

  /**
   * Folds `event` into its burst, opening one if needed. Returns the bursts that must close now, oldest first: the
   * opposite state's (so raised, cleared, raised again stay three notifications in that order), and this one when
   * there is no aggregation at all.
   */
  add(event: AlertEvent, now: number): Burst[] {
    const closed: Burst[] = [];
    const opposite = oppositeKey(event);
    const previous = opposite === null ? undefined : this.open.get(opposite);
    if (previous) closed.push(this.take(previous.key));
    const key = aggregationKey(event);
    const at = event.at ?? now;
    const count = Math.max(0, Math.floor(event.count ?? 1));
    let burst = this.open.get(key);
    if (!burst) {
      burst = { key, seq: this.nextSeq++, code: event.code, openedAt: now, closesAt: now + this.aggregateMs, firstAt: at, lastAt: at, count: 0, events: 0, sample: [], fields: fieldsOf(event) };
      this.open.set(key, burst);
    }
    burst.count += count;
    burst.events++;
    burst.firstAt = Math.min(burst.firstAt, at);
    burst.lastAt = Math.max(burst.lastAt, at);
    for (const id of event.fapiInteractionIds ?? []) {
      if (burst.sample.length >= this.sampleSize) break;
      if (!burst.sample.includes(id)) burst.sample.push(id);
    }
    this.dirty.add(key);
    if (this.aggregateMs === 0) closed.push(this.take(key));
    return closed;
  }

  /** Bursts whose window has ended by `now`, oldest first, taken out. */
  due(now: number): Burst[] {
    const ended = [...this.open.values()].filter((b) => b.closesAt <= now).sort((a, b) => a.seq - b.seq);
    return ended.map((b) => this.take(b.key));
  }

  /** Every open burst, taken out (the store keeps them across a stop). */
  all(): Burst[] {
    return [...this.open.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Open bursts changed since the last call, to be written. */
  takeDirty(): Burst[] {
    const changed = [...this.dirty].flatMap((key) => {
      const burst = this.open.get(key);
      return burst ? [burst] : [];
    });
    this.dirty.clear();
    return changed;
  }

  get size(): number {
    return this.open.size;
  }

  private take(key: string): Burst {
    const burst = this.open.get(key) as Burst;
    this.open.delete(key);
    this.dirty.delete(key);
    return burst;
  }
}
