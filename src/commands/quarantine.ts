import { skipPathsOf, type Config } from '../config/schema.js';
import { replayQuarantined, type ReplayRules, type ReplaySummary } from '../ingest/replay-quarantine.js';
import { loadCatalog } from '../report/catalog.js';
import { reportRules, rulesInputOf } from '../report/context.js';
import { opendataOrgOf } from '../sender/sender.js';
import type { QuarantinedItem, Spool } from '../spool/spool.js';

/** `pcm-sidecar quarantine list|replay`: what ingest refused, and moving what now passes to the spool. */

export { quarantinedItems, type ReplaySummary } from '../ingest/replay-quarantine.js';

export function describeQuarantined(item: QuarantinedItem): string {
  const problems = JSON.parse(item.problems) as { field: string; message: string }[];
  const first = problems[0];
  const more = problems.length > 1 ? ` (+${problems.length - 1} more)` : '';
  const times = item.count > 1 ? ` ×${item.count} (last ${new Date(item.lastSeenAt).toISOString()})` : '';
  return `#${item.id} ${new Date(item.receivedAt).toISOString()}${times} ${item.route} ${first ? `${first.field || '(item)'}: ${first.message}` : ''}${more}`;
}

/** Today's catalogue and settings as the configuration file and environment say (a command has no running rules). */
export function replayRulesOf(config: Config): ReplayRules {
  return {
    rules: reportRules(rulesInputOf(config, opendataOrgOf(config)), loadCatalog(config.catalog.file)),
    skipPaths: skipPathsOf(config.ingest.skipPaths),
  };
}

/** Re-validates every quarantined item with today's catalogue and settings; what passes moves to the spool. */
export function replayQuarantine(spool: Spool, config: Config, now = Date.now()): ReplaySummary {
  return replayQuarantined(spool, replayRulesOf(config), now);
}
