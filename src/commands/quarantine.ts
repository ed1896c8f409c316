import { skipPathsOf, type Config } from '../config/schema.js';
import { problemsText } from '../ingest/quarantine-view.js';
import { ingestRoutes } from '../ingest/routes.js';
import { loadCatalog } from '../report/catalog.js';
import { reportRules, rulesInputOf } from '../report/context.js';
import { spoolEntry } from '../report/validate.js';
import { opendataOrgOf } from '../sender/sender.js';
import { Spool, type NewReport, type QuarantinedItem } from '../spool/spool.js';
import { parseArgs } from 'node:util';
import { EX_USAGE, configOrExit, fail, parseOrText, type Command } from './common.js';

/** `pcm-sidecar quarantine list|replay`: what ingest refused, and moving what now passes to the spool. */

const PAGE = 500;

export function* quarantinedItems(spool: Spool, limit = Number.POSITIVE_INFINITY): Generator<QuarantinedItem> {
  let after = 0;
  let seen = 0;
  while (seen < limit) {
    const page = spool.quarantined(after, Math.min(PAGE, limit - seen));
    if (page.length === 0) return;
    for (const item of page) yield item;
    seen += page.length;
    after = (page[page.length - 1] as QuarantinedItem).id;
  }
}

export function describeQuarantined(item: QuarantinedItem): string {
  const problems = JSON.parse(item.problems) as { field: string; message: string }[];
  const first = problems[0];
  const more = problems.length > 1 ? ` (+${problems.length - 1} more)` : '';
  const times = item.count > 1 ? ` ×${item.count} (last ${new Date(item.lastSeenAt).toISOString()})` : '';
  return `#${item.id} ${new Date(item.receivedAt).toISOString()}${times} ${item.route} ${first ? `${first.field || '(item)'}: ${first.message}` : ''}${more}`;
}

export interface ReplaySummary {
  examined: number;
  moved: number;
  duplicates: number;
  stillFailing: number;
  /** Items that the skip rule (PCM_INGEST_SKIP_PATHS) now says are not Open Finance calls: removed. */
  skipped: number;
}

/** Re-validates every quarantined item with today's catalogue and settings; what passes moves to the spool. */
export function replayQuarantine(spool: Spool, config: Config, now = Date.now()): ReplaySummary {
  const rules = reportRules(rulesInputOf(config, opendataOrgOf(config)), loadCatalog(config.catalog.file));
  const routes = ingestRoutes(rules.build, { skipPaths: skipPathsOf(config.ingest.skipPaths) });
  const context = rules.validation(now);
  const summary: ReplaySummary = { examined: 0, moved: 0, duplicates: 0, stillFailing: 0, skipped: 0 };
  let after = 0;
  for (;;) {
    const page = spool.quarantined(after, PAGE);
    if (page.length === 0) return summary;
    after = (page[page.length - 1] as QuarantinedItem).id;
    const moved: { quarantineId: number; report: NewReport }[] = [];
    const failing: { quarantineId: number; problems: string }[] = [];
    const dropped: number[] = [];
    for (const q of page) {
      summary.examined++;
      const toReport = routes[q.route];
      let value: unknown;
      try {
        value = JSON.parse(q.item);
      } catch {
        failing.push({ quarantineId: q.id, problems: q.problems });
        continue;
      }
      const query = new URL(q.source.split(' ')[2] ?? '/', 'http://ingest').searchParams;
      const result = toReport ? toReport(value, context, query) : null;
      if (result?.ok) {
        moved.push({ quarantineId: q.id, report: spoolEntry(result) });
      } else if (result && 'skipped' in result) {
        dropped.push(q.id);
      } else {
        // The same view of the problems ingest writes, so the item folds with its next repeat.
        const problems = result ? problemsText(result.problems, result.findings ?? []) : problemsText([{ field: '', rule: 'route', message: `unknown route ${q.route}` }]);
        failing.push({ quarantineId: q.id, problems });
      }
    }
    const outcome = spool.promote(moved, failing, dropped);
    summary.skipped += dropped.length;
    summary.moved += outcome.filter((o) => o === 'stored').length;
    summary.duplicates += outcome.filter((o) => o === 'duplicate').length;
    summary.stillFailing += failing.length;
  }
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
  const config = configOrExit(values.config);
  // Next to a running sidecar: its rows in flight are its own, not to be handed out again.
  const spool = new Spool({ path: config.spool.path, sync: config.spool.sync, maxBytes: config.spool.maxBytes, recoverInflight: false });
  try {
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
  } finally {
    await spool.close();
  }
}

export const command: Command = { help: HELP, run: quarantine };
