import { cpus } from 'node:os';
import type { ConservationSummary } from './conservation.js';
import type { FuzzSummary } from './fuzz.js';
import { formatCounts, formatDuration, formatInt } from './common.js';

/** The soak's summary as markdown: one table, a row per scenario, and a line saying where and when it ran. */

/** A power-loss row as the runner got it from test/soak/power-loss.ts (or why it did not run). */
export interface PowerLossRow {
  sync: string;
  /** Why it did not run; null when it ran. */
  skipped: string | null;
  passed: boolean;
  cuts: number;
  acknowledged: number;
  lost: number;
  duplicates: number;
  durationMs: number;
  problem: string | null;
}

export function machineLine(): string {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpus().length} cores (${model}), Node ${process.version}, ${process.platform}`;
}

const MIB = (n: number): string => `${n.toFixed(0)} MiB`;

export function soakTable(c: ConservationSummary | null, f: FuzzSummary | null, powerLoss: PowerLossRow[]): string {
  const rows = [
    '| scenario | scale | lost | duplicates | 5xx | hangs | answers | peak RSS (sidecar) | time | result |',
    '|---|---|---:|---:|---:|---:|---|---:|---:|---|',
  ];
  if (c) {
    const pass = c.lost === 0 && c.duplicatesNotInFlight === 0 && c.neverAcknowledged === 0 && c.discarded === 0 && c.unexpectedExits.length === 0;
    rows.push(
      [
        'conservation: SIGKILLs, PCM outages, 429 storms, slow answers, token host down',
        `${c.killCycles} kill cycles, ${c.sigkills} SIGKILLs; ${formatInt(c.acknowledged)} reports acknowledged`,
        formatInt(c.lost),
        `${formatInt(c.duplicates)} (${c.duplicatesNotInFlight === 0 ? 'all' : `${formatInt(c.duplicatedIds - c.duplicatesNotInFlight)} of ${formatInt(c.duplicatedIds)} ids`} in flight at a kill)`,
        '–',
        '–',
        `PCM: ${formatCounts(c.emulatorAnswers)}; token: ${formatCounts(c.tokenAnswers)}`,
        `${MIB(c.peakSidecarRssMiB)} (emulator ${MIB(c.peakEmulatorRssMiB)})`,
        formatDuration(c.durationMs),
        pass ? 'pass' : `FAIL${c.unexpectedExits.length > 0 ? `: ${c.unexpectedExits[0]}` : ''}`,
      ].join(' | '),
    );
  }
  if (f) {
    const pass = f.fiveXx === 0 && f.hangs === 0 && f.framing.fiveXx === 0 && f.framing.hangs === 0 && f.healthyAfter && f.exitCode === 0;
    rows.push(
      [
        'fuzz: hostile bodies on the 5 ingest routes, framing tricks',
        `${formatInt(f.bodies)} bodies (${(f.bytes / 1e9).toFixed(1)} GB) + ${formatInt(f.framing.cases)} framing cases`,
        '–',
        '–',
        formatInt(f.fiveXx + f.framing.fiveXx),
        formatInt(f.hangs + f.framing.hangs),
        `${formatCounts(f.byStatus)}; framing: ${formatCounts(f.framing.byOutcome)}`,
        MIB(f.peakSidecarRssMiB),
        formatDuration(f.durationMs),
        pass ? 'pass' : 'FAIL',
      ].join(' | '),
    );
  }
  for (const p of powerLoss) {
    rows.push(
      p.skipped !== null
        ? `power loss (LazyFS), PCM_SPOOL_SYNC=${p.sync} | not run: ${p.skipped} | – | – | – | – | – | – | – | not run`
        : [
            `power loss (LazyFS), PCM_SPOOL_SYNC=${p.sync}`,
            `${p.cuts} power cuts; ${formatInt(p.acknowledged)} reports acknowledged`,
            formatInt(p.lost),
            formatInt(p.duplicates),
            '–',
            '–',
            '–',
            '–',
            formatDuration(p.durationMs),
            p.passed ? (p.sync === 'full' ? 'pass' : 'measured') : `FAIL${p.problem ? `: ${p.problem}` : ''}`,
          ].join(' | '),
    );
  }
  return rows.map((r) => (r.startsWith('|') ? r : `| ${r} |`)).join('\n');
}
