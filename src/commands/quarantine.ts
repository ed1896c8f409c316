import { skipPathsOf } from '../config/defaults.js';
import type { Config } from '../config/schema.js';
import { quarantinedItems, replayQuarantined, type ReplayRules, type ReplaySummary } from '../ingest/replay-quarantine.js';
import { loadCatalog } from '../report/catalog.js';
import { reportRules, rulesInputOf } from '../report/context.js';
import { opendataOrgOf } from '../sender/sender.js';
import type { QuarantinedItem, Spool } from '../spool/spool.js';
import { parseArgs } from 'node:util';
import { EX_USAGE, configOrExit, fail, parseOrText, type Command } from './common.js';
import { withGuestSpool } from './guest-spool.js';

/** `pcm-sidecar quarantine list|replay`: what ingest refused, and moving what now passes to the spool. */

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

const HELP = `Usage: pcm-sidecar quarantine list [--limit N] [--config FILE]
       pcm-sidecar quarantine replay [--config FILE]

list    prints quarantined items (oldest first): id, time received, route, first problem.
replay  validates every quarantined item again with the current catalogue and settings (after a catalogue
        update, say) and moves what now passes to the spool, where the running sidecar picks it up.
Settings (spool path, organisations, catalogue, rules) as for 'run'.

Options:
  --limit N        list at most N items (default 100)
  --json           list as NDJSON, with the items and all problems
  --config FILE    JSON configuration file
  -h, --help       this help
`;

async function quarantine(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      limit: { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const action = positionals[0];
  if (values.help || !action) return void process.stdout.write(HELP);
  if (action !== 'list' && action !== 'replay') fail(`quarantine: unknown action "${action}" (list or replay)`, EX_USAGE);
  const config = await configOrExit(values.config);
  await withGuestSpool(config, (spool) => {
    if (action === 'list') {
      for (const item of quarantinedItems(spool, Number(values.limit ?? 100))) {
        process.stdout.write(`${values.json ? JSON.stringify({ ...item, item: parseOrText(item.item), problems: parseOrText(item.problems) }) : describeQuarantined(item)}\n`);
      }
      process.stdout.write(values.json ? '' : `${spool.counts().quarantined} items in quarantine\n`);
    } else {
      const summary = replayQuarantine(spool, config);
      process.stdout.write(
        `examined ${summary.examined}: moved ${summary.moved} to the spool, ${summary.duplicates} already spooled, ${summary.stillFailing} still failing\n`,
      );
    }
  });
}

export const command: Command = { help: HELP, run: quarantine };
