import type { Config } from '../config/schema.js';
import { replayDeadLetterReports, type DeadLetterFilter, type DeadLetterReplaySummary } from '../ingest/replay-dead-letters.js';
import type { DeadLetter, Spool } from '../spool/spool.js';
import { replayRulesOf } from './quarantine.js';

/** `pcm-sidecar deadletter list|replay`: reports that will not be sent again, and sending them again after a fix. */

export { DEAD_LETTER_REASONS, deadLetters, type DeadLetterFilter, type DeadLetterReplaySummary } from '../ingest/replay-dead-letters.js';

export function describeDeadLetter(d: DeadLetter): string {
  const replayed = d.replayedAt === null ? '' : ` [replayed ${new Date(d.replayedAt).toISOString()}]`;
  return `#${d.id} ${new Date(d.at).toISOString()} ${d.reason} ${d.lane} report of ${new Date(d.reportAt).toISOString()}: ${d.message ?? ''}${replayed}`;
}

/**
 * Validates each selected dead letter again as a `/v1/reports` item with today's catalogue and settings; those that
 * pass are stored again (and marked replayed), the others stay dead letters.
 */
export function replayDeadLetters(spool: Spool, config: Config, filter: DeadLetterFilter, now = Date.now()): DeadLetterReplaySummary {
  return replayDeadLetterReports(spool, replayRulesOf(config), filter, now);
}
