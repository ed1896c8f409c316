import type { Config } from '../config/schema.js';
import { DEAD_LETTER_REASONS, deadLetters, replayDeadLetterReports, type DeadLetterFilter, type DeadLetterReplaySummary } from '../ingest/replay-dead-letters.js';
import type { DeadLetter, Spool } from '../spool/spool.js';
import { parseArgs } from 'node:util';
import { EX_USAGE, configOrExit, fail, parseOrText, type Command } from './common.js';
import { replayRulesOf } from './quarantine.js';
import { withGuestSpool } from './guest-spool.js';

/** `pcm-sidecar deadletter list|replay`: reports that will not be sent again, and sending them again after a fix. */

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

const HELP = `Usage: pcm-sidecar deadletter list [--reason R] [--since TIME] [--limit N] [--json] [--config FILE]
       pcm-sidecar deadletter replay [--reason R] [--since TIME] [--config FILE]

Dead letters are reports that will not be sent again: reason pcm (the PCM answered DISCARDED, with its message),
refused (the PCM refused every request holding it until the sender isolated it) or too-old (past the PCM's age
limit before it could be sent).
list    prints them, newest first: id, when, reason, lane, the report's time, the message.
replay  validates each one not yet replayed again with the current catalogue and settings (after the cause was
        fixed) and stores those that pass as new reports, which the running sidecar then sends; the others stay.
Settings (spool path, organisations, catalogue, rules) as for 'run'. Safe next to a running sidecar.

Options:
  --reason R       pcm, refused or too-old
  --since TIME     only those decided at or after TIME (ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00:00-03:00)
  --limit N        list at most N (default 100)
  --json           list as NDJSON, with the stored report
  --config FILE    JSON configuration file
  -h, --help       this help
`;

async function deadletter(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      reason: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const action = positionals[0];
  if (values.help || !action) return void process.stdout.write(HELP);
  if (action !== 'list' && action !== 'replay') fail(`deadletter: unknown action "${action}" (list or replay)`, EX_USAGE);
  const reason = DEAD_LETTER_REASONS.find((r) => r === values.reason);
  if (values.reason !== undefined && reason === undefined) fail(`deadletter: --reason must be one of ${DEAD_LETTER_REASONS.join(', ')}`, EX_USAGE);
  const since = values.since === undefined ? undefined : Date.parse(values.since);
  if (since !== undefined && Number.isNaN(since)) fail(`deadletter: --since "${values.since}" is not a time (ISO 8601, e.g. 2026-12-01T08:00:00Z)`, EX_USAGE);
  const config = await configOrExit(values.config);
  await withGuestSpool(config, (spool) => {
    const filter = { reason, since };
    if (action === 'list') {
      let n = 0;
      for (const d of deadLetters(spool, filter, Number(values.limit ?? 100))) {
        n++;
        process.stdout.write(`${values.json ? JSON.stringify({ ...d, body: parseOrText(d.body) }) : describeDeadLetter(d)}\n`);
      }
      if (!values.json) process.stdout.write(`${n} dead letters listed\n`);
    } else {
      const summary = replayDeadLetters(spool, config, filter);
      process.stdout.write(
        `examined ${summary.examined}: stored ${summary.stored} again, ${summary.duplicates} already stored, ${summary.stillFailing} still refused by validation\n`,
      );
    }
  });
}

export const command: Command = { help: HELP, run: deadletter };
