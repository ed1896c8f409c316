import type { AlertEvent } from './events.js';

/**
 * SPOOL.BACKLOG_HIGH: raised when the oldest report not yet answered by the PCM has waited longer than
 * `maxAgeMs`, or more than `maxReports` wait; cleared once both are back under 90 % of their threshold, so a backlog
 * hovering at the line does not raise and clear at every check.
 */

export interface BacklogSnapshot {
  /** Reports pending or in flight, all lanes. */
  count: number;
  /** Age of the oldest of them, and its lane; 0 and null when none waits. */
  oldestAgeMs: number;
  oldestLane: string | null;
}

/** A raised backlog clears below this share of its thresholds. */
const CLEAR_BELOW = 0.9;

export class BacklogWatch {
  private high = false;

  constructor(
    private readonly maxAgeMs: number,
    private readonly maxReports: number,
  ) {}

  /** The event this snapshot causes, if it changes the state. */
  check(s: BacklogSnapshot): AlertEvent | null {
    const ageOver = (share: number): boolean => this.maxAgeMs > 0 && s.oldestAgeMs > this.maxAgeMs * share;
    const countOver = (share: number): boolean => this.maxReports > 0 && s.count > this.maxReports * share;
    // The lane is a detail, not part of the key: raised and cleared must meet in one key whichever lane is oldest.
    const details: Record<string, string | number> = {
      oldestAgeSeconds: Math.round(s.oldestAgeMs / 1000),
      ...(s.oldestLane === null ? {} : { oldestLane: s.oldestLane }),
      maxAgeSeconds: Math.round(this.maxAgeMs / 1000),
      maxReports: this.maxReports,
    };
    if (!this.high && (ageOver(1) || countOver(1))) {
      this.high = true;
      const why = ageOver(1) ? `the oldest report waiting has waited ${Math.round(s.oldestAgeMs / 1000)} s` : `${s.count} reports wait`;
      return { code: 'SPOOL.BACKLOG_HIGH', state: 'raised', count: s.count, message: `backlog above its threshold: ${why}`, details };
    }
    if (this.high && !ageOver(CLEAR_BELOW) && !countOver(CLEAR_BELOW)) {
      this.high = false;
      return { code: 'SPOOL.BACKLOG_HIGH', state: 'cleared', count: s.count, message: 'backlog back under its thresholds', details };
    }
    return null;
  }
}
