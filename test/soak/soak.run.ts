import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { runConservation, type ConservationSummary } from './conservation.js';
import { runFuzz, type FuzzSummary } from './fuzz.js';
import { formatDuration, sleep } from './common.js';
import { machineLine, soakTable, type PowerLossRow } from './table.js';

/**
 * `npm run soak`: the long forms of the conservation and fuzz soaks (their short forms run in CI as
 * test/soak/conservation.test.ts and fuzz.test.ts), then the power-loss scenario of test/soak/power-loss.ts when that
 * file exists and LAZYFS names a binary. Prints a markdown table and writes it, with every figure as JSON, to
 * bench/.work/soak-last-run.md and .json. Only test/soak/vitest.config.ts runs this file (its name is not *.test.ts).
 *
 * Scale from the environment, for a quick look at the runner itself: SOAK_KILL_CYCLES (default 120),
 * SOAK_FUZZ_BODIES (default 100 000), SOAK_POWER_CUTS (power-loss.ts's own default when unset).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, 'bench', '.work');
const POWER_LOSS = fileURLToPath(new URL('./power-loss.ts', import.meta.url));

function whole(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number, got "${value}"`);
  return n;
}

const progress = (line: string): void => {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** The power-loss rows: run when test/soak/power-loss.ts is there and LAZYFS points at a binary, else why not. */
async function powerLoss(): Promise<{ rows: PowerLossRow[]; detail: string | null; raw: unknown[] }> {
  const notRun = (why: string): { rows: PowerLossRow[]; detail: null; raw: [] } => ({
    rows: ['full', 'normal'].map((sync) => ({ sync, skipped: why, passed: false, cuts: 0, acknowledged: 0, lost: 0, duplicates: 0, durationMs: 0, problem: null })),
    detail: null,
    raw: [],
  });
  if (!existsSync(POWER_LOSS)) return notRun('test/soak/power-loss.ts is not there');
  const lazyfs = process.env.LAZYFS;
  if (!lazyfs) return notRun('LAZYFS is not set (the path of a built lazyfs binary)');
  if (!existsSync(lazyfs)) return notRun(`LAZYFS=${lazyfs} does not exist`);
  const mod = (await import(pathToFileURL(POWER_LOSS).href)) as Record<string, unknown>;
  const run = mod.runPowerLoss;
  if (typeof run !== 'function') return notRun('test/soak/power-loss.ts exports no runPowerLoss');
  const skipReason = typeof mod.powerLossSkipReason === 'function' ? (mod.powerLossSkipReason as () => string | null)() : null;
  if (skipReason) return notRun(skipReason);
  const cuts = process.env.SOAK_POWER_CUTS ? whole('SOAK_POWER_CUTS', 30) : undefined;
  const raw: Record<string, unknown>[] = [];
  for (const sync of ['full', 'normal'] as const) {
    progress(`power loss, PCM_SPOOL_SYNC=${sync}: starting`);
    const result = (await (run as (o: object) => Promise<unknown>)({ sync, ...(cuts ? { cuts } : {}), log: progress })) as Record<string, unknown>;
    raw.push(result);
  }
  const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
  const rows = raw.map((r, i) => ({
    sync: typeof r.sync === 'string' ? r.sync : i === 0 ? 'full' : 'normal',
    skipped: typeof r.skipped === 'string' ? r.skipped : null,
    passed: r.passed === true,
    cuts: num(r.cuts),
    acknowledged: num(r.acknowledged),
    lost: num(r.lost),
    duplicates: num(r.duplicates),
    durationMs: num(r.durationMs),
    problem: Array.isArray(r.problems) && typeof r.problems[0] === 'string' ? (r.problems[0].split('\n')[0] ?? null) : null,
  }));
  const format = mod.formatPowerLoss;
  const detail = typeof format === 'function' ? (format as (s: unknown[]) => string)(raw) : null;
  return { rows, detail, raw };
}

it('soak: conservation, fuzz and power loss at scale', async () => {
  const started = new Date();
  const killCycles = whole('SOAK_KILL_CYCLES', 120);
  const fuzzBodies = whole('SOAK_FUZZ_BODIES', 100_000);
  let conservation: ConservationSummary | null = null;
  let fuzz: FuzzSummary | null = null;
  const failures: string[] = [];

  progress(`conservation: ${killCycles} kill cycles`);
  try {
    conservation = await runConservation({
      label: 'soak',
      seed: started.getTime() % 2 ** 31,
      killCycles,
      checkpointEvery: 12,
      bodiesPerCycle: 60,
      reportsPerBody: 50,
      posters: 4,
      killAfterMs: [200, 2500],
      startupKillRate: 0.25,
      phaseOrder: 'random',
      drainTimeoutMs: 180_000,
      log: progress,
    });
  } catch (err) {
    failures.push(`conservation did not finish: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  // Let the processes of one scenario be gone before the next measures memory and time.
  await sleep(1000);

  progress(`fuzz: ${fuzzBodies} bodies`);
  try {
    fuzz = await runFuzz({
      label: 'soak',
      seed: started.getTime() % 2 ** 31,
      bodies: fuzzBodies,
      concurrency: 8,
      framingCases: 600,
      framingConcurrency: 16,
      requestTimeoutMs: 5000,
      headersTimeoutMs: 3000,
      marginMs: 5000,
      log: progress,
    });
  } catch (err) {
    failures.push(`fuzz did not finish: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }

  const power = await powerLoss().catch((err: unknown) => {
    failures.push(`power loss did not finish: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return { rows: [] as PowerLossRow[], detail: null, raw: [] as unknown[] };
  });

  const elapsed = Date.now() - started.getTime();
  const text = [
    `Command: \`npm run soak\` · ${started.toISOString().slice(0, 10)} · ${formatDuration(elapsed)} in all · machine: ${machineLine()}`,
    '',
    soakTable(conservation, fuzz, power.rows),
    ...(power.detail ? ['', power.detail] : []),
    '',
  ].join('\n');
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'soak-last-run.md'), text);
  writeFileSync(join(OUT, 'soak-last-run.json'), JSON.stringify({ started: started.toISOString(), elapsedMs: elapsed, conservation, fuzz, powerLoss: power.raw }, null, 2));
  console.log(`\n${text}\n(also in bench/.work/soak-last-run.md; every figure in soak-last-run.json)`);

  expect(failures).toEqual([]);
  expect(conservation?.lostSample).toEqual([]);
  expect(conservation?.lost).toBe(0);
  expect(conservation?.duplicatesNotInFlight).toBe(0);
  expect(conservation?.neverAcknowledged).toBe(0);
  expect(conservation?.unexpectedExits).toEqual([]);
  expect(conservation?.killCycles).toBeGreaterThanOrEqual(Math.min(100, killCycles));
  expect(fuzz?.samples.filter((s) => /^(5\d\d|hang)/.test(s))).toEqual([]);
  expect(fuzz?.fiveXx).toBe(0);
  expect(fuzz?.hangs).toBe(0);
  expect(fuzz?.framing.fiveXx).toBe(0);
  expect(fuzz?.framing.hangs).toBe(0);
  expect(fuzz?.healthyAfter).toBe(true);
  expect(fuzz?.exitCode).toBe(0);
  for (const row of power.rows) if (row.skipped === null && row.sync === 'full') expect(row.passed, row.problem ?? '').toBe(true);
});
