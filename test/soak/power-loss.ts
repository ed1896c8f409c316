import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EMULATOR_DEFAULTS, type EmulatorStats, type StoredReport } from '../../src/emulator/emulator.js';
import { getJson, postJson } from '../helpers/http.js';
import { CLI, stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { startSidecarProcess, twoOrgStack, type StartedSidecar, type TwoOrgStack } from '../helpers/stack.js';
import { LazyFs, lazyfsSetup, type LazyFsSetup } from './lazyfs.js';
import { adminJson } from '../helpers/admin.js';

/**
 * Power loss, not only kill -9 (issue 8, part 6). The spool lives on LazyFS (./lazyfs.ts), which keeps every written
 * byte in its own cache until fsync. Under load, at random moments, the sidecar is SIGKILLed and LazyFS's cache of
 * unsynced data dropped — a power cut as the spool file sees it — and LazyFS mounted anew (the reboot: no page cache
 * survives either); the sidecar restarts on what is left and the load goes on. After the last cut the load stops,
 * the sidecar drains, and the conservation oracle runs: unique fapiInteractionIds, an id counts as acknowledged only
 * after a 202 from ingest, and every acknowledged id must be at the emulator or still in the spool to be delivered.
 *
 * PCM_SPOOL_SYNC=full promises that nothing answered is lost: `lost` must be 0. With `normal` the WAL is fsync'ed
 * only at checkpoints, so a cut loses the commits since the last one: the run measures that, it does not fail on it.
 */

export type SyncMode = 'full' | 'normal';

export interface PowerLossOptions {
  sync: SyncMode;
  /** Power cuts (default 30). */
  cuts?: number;
  /** Load between a restart and the next cut, ms, drawn uniformly (default [150, 2500]). */
  loadMs?: [number, number];
  /** Concurrent posters (default 4) and reports per body (default 25). */
  posters?: number;
  perBody?: number;
  /** Seeds the cut moments (default: from the clock; the summary says which). */
  seed?: number;
  drainTimeoutMs?: number;
  /** Where LAZYFS, LAZYFS_CACHE_SIZE, FUSERMOUNT are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Keep the spool and LazyFS directories (default: kept only when the run has problems). */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface CutRecord {
  cut: number;
  /** Load time before this cut, ms since the sidecar was ready. */
  loadMs: number;
  acknowledgedSoFar: number;
  /** What LazyFS held unsynced when the power went (bytes), and in which files. */
  unsyncedBytes: number;
  unsyncedFiles: string[];
  cacheUsagePercent: number;
  /** The spool as found after the reboot, before the sidecar touched it. */
  spool: SpoolCheck;
  /** Acknowledged ids whose spool row this cut took (each counted at the first cut that took it). */
  vanished: number;
  restartMs: number;
  recoveredInflight: number;
  movedAside: string | null;
}

export interface SpoolCheck {
  /** 'absent': no file yet; 'empty': a file with no schema (its creation was never synced). */
  state: 'ok' | 'absent' | 'empty' | 'unreadable' | 'quick_check failed';
  error: string | null;
  quickCheck: string | null;
  rows: Record<string, number>;
  bytes: number;
}

export interface PowerLossSummary {
  sync: SyncMode;
  /** Why the run did not happen (LazyFS absent, …); null when it ran. */
  skipped: string | null;
  /** full: nothing acknowledged lost, every restart found a readable spool; normal: it ran to the end and drained. */
  passed: boolean;
  problems: string[];
  seed: number;
  cuts: number;
  bodiesPosted: number;
  answers: Record<string, number>;
  acknowledged: number;
  /** Acknowledged ids at the emulator. */
  delivered: number;
  /** Acknowledged, not at the emulator, not in the spool: lost. */
  lost: number;
  lostSample: string[];
  /** Lost ids by when they were acknowledged: key k = between cut k and cut k + 1 (0: before the first cut). */
  lostByAckWindow: Record<string, number>;
  /** Acknowledged, not at the emulator, still pending in the spool after the drain (should be 0). */
  stillSpooled: number;
  /** Acknowledged ids whose spool row a cut took (lost or not: some had been delivered before the cut). */
  vanishedFromSpool: number;
  /** Copies beyond the first at the emulator (emulator's duplicatesReceived). */
  duplicates: number;
  discardedAtEmulator: number;
  unsyncedBytesAtCut: { min: number; median: number; max: number };
  peakCacheUsagePercent: number;
  restarts: { spoolOk: number; absentOrEmpty: number; unreadable: number; quickCheckFailed: number; movedAside: number; recoveredInflight: number };
  drained: boolean;
  /** From the end of the load to an empty backlog, ms. */
  drainMs: number;
  finalExitCode: number | null;
  durationMs: number;
  keptAt: string | null;
  cutRecords: CutRecord[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** mulberry32: reproducible cut moments from a seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function idOf(r: Record<string, unknown>): string {
  return r.fapiInteractionId as string;
}

/** Opens the spool read-only (no checkpoint, no recovery written back), runs quick_check and counts rows. */
function checkSpool(path: string): { check: SpoolCheck; ids: Map<string, string> } {
  const ids = new Map<string, string>();
  if (!existsSync(path)) return { check: { state: 'absent', error: null, quickCheck: null, rows: {}, bytes: 0 }, ids };
  const bytes = statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
  let db: Database.Database | null = null;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const quickCheck = (db.pragma('quick_check', { simple: true }) as string) ?? null;
    const hasTable = db.prepare(`SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = 'reports'`).get() !== undefined;
    if (!hasTable) return { check: { state: quickCheck === 'ok' ? 'empty' : 'quick_check failed', error: null, quickCheck, rows: {}, bytes }, ids };
    const rows: Record<string, number> = {};
    for (const r of db.prepare('SELECT fapi_interaction_id AS id, state FROM reports').iterate() as Iterable<{ id: string; state: string }>) {
      ids.set(r.id, r.state);
      rows[r.state] = (rows[r.state] ?? 0) + 1;
    }
    return { check: { state: quickCheck === 'ok' ? 'ok' : 'quick_check failed', error: null, quickCheck, rows, bytes }, ids };
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { check: { state: 'unreadable', error: `${code ?? ''} ${(err as Error).message}`.trim(), quickCheck: null, rows: {}, bytes }, ids };
  } finally {
    db?.close();
  }
}

/** Every report at the emulator, by fapiInteractionId (page by page: the listing carries whole bodies). */
async function emulatorIds(stack: TwoOrgStack): Promise<Map<string, { copies: number; discarded: number }>> {
  const out = new Map<string, { copies: number; discarded: number }>();
  const page = 20_000;
  for (let offset = 0; ; offset += page) {
    const { body } = await getJson<{ data: StoredReport[]; meta: { totalRecords: number } }>(
      `${stack.emulator.url}/emulator/reports?_limit=${page}&_offset=${offset}`,
      stack.ca,
    );
    for (const r of body.data) {
      const id = (r.report as { fapiInteractionId?: string }).fapiInteractionId;
      if (typeof id !== 'string') continue;
      const seen = out.get(id) ?? { copies: 0, discarded: 0 };
      seen.copies++;
      if (r.status === 'DISCARDED') seen.discarded++;
      out.set(id, seen);
    }
    if (body.data.length < page || offset + page >= body.meta.totalRecords) return out;
  }
}

function skippedSummary(sync: SyncMode, reason: string): PowerLossSummary {
  return {
    sync,
    skipped: reason,
    passed: false,
    problems: [],
    seed: 0,
    cuts: 0,
    bodiesPosted: 0,
    answers: {},
    acknowledged: 0,
    delivered: 0,
    lost: 0,
    lostSample: [],
    lostByAckWindow: {},
    stillSpooled: 0,
    vanishedFromSpool: 0,
    duplicates: 0,
    discardedAtEmulator: 0,
    unsyncedBytesAtCut: { min: 0, median: 0, max: 0 },
    peakCacheUsagePercent: 0,
    restarts: { spoolOk: 0, absentOrEmpty: 0, unreadable: 0, quickCheckFailed: 0, movedAside: 0, recoveredInflight: 0 },
    drained: false,
    drainMs: 0,
    finalExitCode: null,
    durationMs: 0,
    keptAt: null,
    cutRecords: [],
  };
}

/** Why the scenario cannot run here, or null. */
export function powerLossSkipReason(env: NodeJS.ProcessEnv = process.env): string | null {
  const found = lazyfsSetup(env);
  if ('skip' in found) return found.skip;
  if (!existsSync(CLI)) return `${CLI} is missing: run npm run build first`;
  return null;
}

export async function runPowerLoss(options: PowerLossOptions): Promise<PowerLossSummary> {
  const { sync } = options;
  const log = options.log ?? ((line: string) => console.log(line));
  const found = lazyfsSetup(options.env ?? process.env);
  if ('skip' in found) return skippedSummary(sync, found.skip);
  if (!existsSync(CLI)) return skippedSummary(sync, `${CLI} is missing: run npm run build first`);
  const setup: LazyFsSetup = found.setup;

  const cuts = options.cuts ?? 30;
  const [loadMin, loadMax] = options.loadMs ?? [150, 2500];
  const posters = options.posters ?? 4;
  const perBody = options.perBody ?? 25;
  const seed = options.seed ?? Date.now() % 2 ** 31;
  const random = prng(seed);
  const started = Date.now();
  const problems: string[] = [];

  // Underscores only: LazyFS reads a config path holding "-o" as a FUSE option (see lazyfs.ts).
  const fsDir = mkdtempSync(join(tmpdir(), `pcm_powerloss_${sync}_`));
  let stack: TwoOrgStack | null = null;
  let fs: LazyFs | null = null;
  let sidecar: StartedSidecar | null = null;
  const cutRecords: CutRecord[] = [];
  const acked = new Map<string, number>(); // id → the cut count when it was acknowledged
  const answers: Record<string, number> = {};
  let bodiesPosted = 0;
  let summary: PowerLossSummary | null = null;
  let stopping = false;
  let openGate: () => void = () => undefined;

  try {
    stack = await twoOrgStack(
      `powerloss-${sync}`,
      {
        PCM_SPOOL_SYNC: sync,
        PCM_MAX_BATCH_SIZE: '200',
        PCM_MAX_BATCH_DELAY_MS: '10',
        PCM_MAX_CONCURRENT_BATCHES: '3',
        PCM_RETRY_INITIAL_DELAY_MS: '20',
        PCM_RETRY_MAX_DELAY_MS: '200',
      },
      () => ['--rate-limit', '1000000'],
    );
    fs = await LazyFs.mount(setup, fsDir);
    const spoolPath = join(fs.mountPoint, 'spool.db');
    const env = { ...stack.env, PCM_SPOOL_PATH: spoolPath };
    log(`power-loss[${sync}]: LazyFS at ${fs.mountPoint} (cache ${setup.cacheSize}), ${cuts} cuts, seed ${seed}`);

    // Load: posters wait at the gate while the power is out; a body not answered 202 goes back to be posted again.
    let gate: Promise<void> = Promise.resolve();
    const retry: Record<string, unknown>[][] = [];
    let next = 0;
    const newBody = (): Record<string, unknown>[] => Array.from({ length: perBody }, () => validReport(next++));
    const poster = async (): Promise<void> => {
      while (!stopping) {
        await gate;
        if (stopping) break;
        const current = sidecar;
        if (!current) continue;
        const body = retry.shift() ?? newBody();
        bodiesPosted++;
        try {
          const answer = await postJson<{ accepted?: number; duplicates?: number }>(`${current.url}/v1/reports`, body);
          answers[answer.status] = (answers[answer.status] ?? 0) + 1;
          const stored = (answer.body?.accepted ?? 0) + (answer.body?.duplicates ?? 0);
          if (answer.status === 202 && stored === body.length) {
            for (const r of body) acked.set(idOf(r), cutRecords.length);
          } else retry.push(body);
        } catch {
          answers.error = (answers.error ?? 0) + 1;
          retry.push(body);
        }
      }
    };

    const restart = async (): Promise<{ ms: number; recoveredInflight: number; movedAside: string | null }> => {
      const t0 = Date.now();
      sidecar = await startSidecarProcess(env, stack!.args);
      const status = await adminJson<{ spool: { recoveredInflight: number; movedAside: string | null } }>(`${sidecar.adminUrl}/v1/status`);
      return { ms: Date.now() - t0, recoveredInflight: status.body.spool.recoveredInflight, movedAside: status.body.spool.movedAside };
    };

    await restart();
    const gone = new Set<string>();
    const load = Array.from({ length: posters }, poster);
    for (let cut = 1; cut <= cuts; cut++) {
      const loadMs = Math.round(loadMin + random() * (loadMax - loadMin));
      await sleep(loadMs);
      // The power goes: the process dies at once, then every byte not fsync'ed.
      gate = new Promise((resolve) => (openGate = resolve));
      const victim = sidecar!;
      sidecar = null;
      victim.proc.child.kill('SIGKILL');
      await victim.proc.exited;
      const ackedAtCut = acked.size;
      const unsynced = await fs.unsynced();
      const usage = await fs.cacheUsage();
      await fs.clearCache();
      await fs.unmount();
      fs = await LazyFs.mount(setup, fsDir);
      // What the disk holds, before the sidecar touches it.
      const { check, ids } = checkSpool(spoolPath);
      let vanished = 0;
      // Acknowledged ids whose row is not there now (each counted at the first cut that took it).
      for (const id of acked.keys()) {
        if (!ids.has(id) && !gone.has(id)) {
          gone.add(id);
          vanished++;
        }
      }
      const restarted = await restart();
      openGate();
      const record: CutRecord = {
        cut,
        loadMs,
        acknowledgedSoFar: ackedAtCut,
        unsyncedBytes: unsynced.bytes,
        unsyncedFiles: unsynced.files.map((f) => f.slice(fs!.rootDir.length + 1)),
        cacheUsagePercent: usage,
        spool: check,
        vanished,
        restartMs: restarted.ms,
        recoveredInflight: restarted.recoveredInflight,
        movedAside: restarted.movedAside,
      };
      cutRecords.push(record);
      log(
        `power-loss[${sync}]: cut ${cut}/${cuts} after ${loadMs} ms: acked ${ackedAtCut}, unsynced ${unsynced.bytes} B ` +
          `(${record.unsyncedFiles.join(', ') || '-'}), spool ${check.state}${check.quickCheck && check.quickCheck !== 'ok' ? ` (${check.quickCheck})` : ''} ` +
          `${JSON.stringify(check.rows)}, vanished ${vanished}, recovered in flight ${restarted.recoveredInflight}` +
          `${restarted.movedAside ? `, MOVED ASIDE to ${restarted.movedAside}` : ''}, restart ${restarted.ms} ms`,
      );
      if (check.state === 'unreadable' || check.state === 'quick_check failed') {
        problems.push(`cut ${cut}: spool ${check.state}: ${check.error ?? check.quickCheck}`);
      }
      if (restarted.movedAside) problems.push(`cut ${cut}: the sidecar moved an unreadable spool aside (${restarted.movedAside})`);
    }

    // Stop the load, let the sidecar deliver everything, stop it in order.
    stopping = true;
    await Promise.all(load);
    let drained = false;
    const drainStart = Date.now();
    const deadline = Date.now() + (options.drainTimeoutMs ?? 180_000);
    while (Date.now() < deadline) {
      const { body } = await adminJson<{ spool: { pending: number; inflight: number } }>(`${sidecar!.adminUrl}/v1/status`);
      if (body.spool.pending + body.spool.inflight === 0) {
        drained = true;
        break;
      }
      await sleep(250);
    }
    const drainMs = Date.now() - drainStart;
    if (!drained) problems.push('the spool did not drain in time');
    const finalExit = await stopProc(sidecar!.proc);
    sidecar = null;
    if (finalExit.code !== 0) problems.push(`the final sidecar exited ${finalExit.code ?? finalExit.signal} on SIGTERM`);

    const final = checkSpool(spoolPath);
    const atEmulator = await emulatorIds(stack);
    const stats = (await getJson<EmulatorStats & Record<string, unknown>>(`${stack.emulator.url}/emulator/stats`, stack.ca)).body;
    // A bounded emulator deletes its oldest reports past maxReports (down to 90 %): they would look lost.
    const bound = (EMULATOR_DEFAULTS as { maxReports?: number }).maxReports;
    const held = [...atEmulator.values()].reduce((n, r) => n + r.copies, 0);
    if (bound !== undefined && held >= 0.9 * bound) problems.push(`the emulator holds ${held} reports, at its bound of ${bound}: some may have been deleted, the oracle is void`);
    for (const [key, value] of Object.entries(stats)) {
      if (/evict/i.test(key) && typeof value === 'number' && value > 0) problems.push(`the emulator evicted ${value} reports (${key}): the oracle is void`);
    }

    const lostIds: string[] = [];
    const lostByAckWindow: Record<string, number> = {};
    let delivered = 0;
    let stillSpooled = 0;
    let vanishedFromSpool = 0;
    let discardedAtEmulator = 0;
    for (const [id, window] of acked) {
      const state = final.ids.get(id);
      if (state === undefined) vanishedFromSpool++;
      const seen = atEmulator.get(id);
      if (seen) {
        delivered++;
        if (seen.discarded > 0) discardedAtEmulator++;
      } else if (state === 'pending' || state === 'inflight') stillSpooled++;
      else {
        lostIds.push(id);
        lostByAckWindow[window] = (lostByAckWindow[window] ?? 0) + 1;
      }
    }
    if (discardedAtEmulator > 0) problems.push(`${discardedAtEmulator} acknowledged reports were DISCARDED by the emulator`);
    if (stillSpooled > 0) problems.push(`${stillSpooled} acknowledged reports still in the spool after the drain`);
    if (sync === 'full' && lostIds.length > 0) problems.push(`${lostIds.length} acknowledged reports lost with PCM_SPOOL_SYNC=full`);
    if (sync === 'full' && vanishedFromSpool > 0) problems.push(`${vanishedFromSpool} acknowledged rows vanished from a synchronous=FULL spool`);

    const unsyncedSorted = cutRecords.map((c) => c.unsyncedBytes).sort((a, b) => a - b);
    const restarts = {
      spoolOk: cutRecords.filter((c) => c.spool.state === 'ok').length,
      absentOrEmpty: cutRecords.filter((c) => c.spool.state === 'absent' || c.spool.state === 'empty').length,
      unreadable: cutRecords.filter((c) => c.spool.state === 'unreadable').length,
      quickCheckFailed: cutRecords.filter((c) => c.spool.state === 'quick_check failed').length,
      movedAside: cutRecords.filter((c) => c.movedAside !== null).length,
      recoveredInflight: cutRecords.reduce((n, c) => n + c.recoveredInflight, 0),
    };
    summary = {
      sync,
      skipped: null,
      passed: problems.length === 0,
      problems,
      seed,
      cuts: cutRecords.length,
      bodiesPosted,
      answers,
      acknowledged: acked.size,
      delivered,
      lost: lostIds.length,
      lostSample: lostIds.slice(0, 5),
      lostByAckWindow,
      stillSpooled,
      vanishedFromSpool,
      duplicates: stats.duplicatesReceived,
      discardedAtEmulator,
      unsyncedBytesAtCut: {
        min: unsyncedSorted[0] ?? 0,
        median: unsyncedSorted[Math.floor(unsyncedSorted.length / 2)] ?? 0,
        max: unsyncedSorted[unsyncedSorted.length - 1] ?? 0,
      },
      peakCacheUsagePercent: Math.max(0, ...cutRecords.map((c) => c.cacheUsagePercent).filter((n) => Number.isFinite(n))),
      restarts,
      drained,
      drainMs,
      finalExitCode: finalExit.code,
      durationMs: Date.now() - started,
      keptAt: null,
      cutRecords,
    };
    log(`power-loss[${sync}]: ${formatPowerLoss([summary])}`);
    return summary;
  } catch (err) {
    problems.push(`the run failed: ${(err as Error).stack ?? String(err)}`);
    if (fs) problems.push(`LazyFS output:\n${fs.output(20).join('\n')}`);
    summary = { ...skippedSummary(sync, ''), skipped: null, problems, seed, cuts: cutRecords.length, acknowledged: acked.size, cutRecords, durationMs: Date.now() - started };
    return summary;
  } finally {
    // Always: no poster waiting, no sidecar, no mount, no emulator left behind.
    stopping = true;
    openGate();
    if (sidecar) await stopProc((sidecar as StartedSidecar).proc, 'SIGKILL');
    if (fs) {
      await fs.unmount().catch((err: Error) => {
        problems.push(`unmount: ${err.message}`);
        if (summary) summary.passed = false;
      });
    }
    if (stack) await stopProc(stack.emulator.proc);
    const keep = options.keep ?? (summary === null || !summary.passed);
    if (keep) {
      if (summary) summary.keptAt = fsDir;
      log(`power-loss[${sync}]: kept ${fsDir} (root/ holds the spool as the disk had it)${stack ? ` and ${dirname(stack.spoolPath)}` : ''}`);
    } else {
      rmSync(fsDir, { recursive: true, force: true });
      if (stack) rmSync(dirname(stack.spoolPath), { recursive: true, force: true });
    }
  }
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** Markdown rows for the soak table: one per sync mode. */
export function formatPowerLoss(summaries: PowerLossSummary[]): string {
  const head = [
    '| power cuts (LazyFS) | PCM_SPOOL_SYNC | acknowledged | lost | acked rows gone from spool | duplicates | unsynced at cut (median / max) | spool after restart | result |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  const rows = summaries.map((s) => {
    if (s.skipped) return `| – | ${s.sync} | – | – | – | – | – | – | skipped: ${s.skipped} |`;
    const r = s.restarts;
    const spool = `${r.spoolOk}/${s.cuts} quick_check ok${r.absentOrEmpty ? `, ${r.absentOrEmpty} empty/absent` : ''}${r.unreadable ? `, ${r.unreadable} unreadable` : ''}${r.quickCheckFailed ? `, ${r.quickCheckFailed} failed` : ''}${r.movedAside ? `, ${r.movedAside} moved aside` : ''}`;
    const result = s.passed ? (s.sync === 'full' ? 'pass' : 'measured') : `FAIL: ${s.problems[0]?.split('\n')[0] ?? ''}`;
    const kb = (n: number): string => `${fmt(Math.round(n / 1024))} KiB`;
    return `| ${s.cuts} | ${s.sync} | ${fmt(s.acknowledged)} | ${fmt(s.lost)} | ${fmt(s.vanishedFromSpool)} | ${fmt(s.duplicates)} | ${kb(s.unsyncedBytesAtCut.median)} / ${kb(s.unsyncedBytesAtCut.max)} | ${spool} | ${result} |`;
  });
  return [...head, ...rows].join('\n');
}
