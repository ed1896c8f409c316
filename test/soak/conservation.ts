import Database from 'better-sqlite3';
import { existsSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Agent, request } from 'undici';
import type { EmulatorStats, StoredReport } from '../../src/emulator/emulator.js';
import type { FaultConfig } from '../../src/emulator/faults.js';
import { mulberry32 } from '../../src/random.js';
import { startCli, stopProc, waitForLogValue, type Proc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { twoOrgStack, type TwoOrgStack } from '../helpers/stack.js';
import { bump, EmulatorControl, LogWatch, mergeCounts, sleep } from './common.js';
import { RssSampler } from './rss.js';
import { ADMIN_TOKEN } from '../helpers/admin.js';

/**
 * Conservation under crashes and PCM faults, as a parameterised scenario (the CI short form in
 * test/soak/conservation.test.ts, the long form in `npm run soak`).
 *
 * A `pcm-sidecar run` process acting for two organisations posts to a `pcm-sidecar emulate` process. Each kill cycle
 * sets one fault phase on the emulator at run time (PUT /emulator/faults), starts the sidecar on the same spool
 * (sometimes SIGKILLing it once during its start first), posts bodies of valid reports with unique
 * fapiInteractionIds from several clients, and SIGKILLs it at a random moment — while it ingests, or while it sends.
 * A report counts as acknowledged only once a 2xx answer said it was stored (accepted, or a duplicate of a stored
 * one); bodies not acknowledged are posted again later, as a gateway retries. Between kills the spool is read for the
 * rows that were in flight when the process died.
 *
 * Every `checkpointEvery` cycles (and at the end) a checkpoint: faults off, a sidecar posts what is left and drains;
 * once the emulator holds every acknowledged id of the stretch (or the drain deadline passes) the copies are counted —
 * lost = acknowledged ids the emulator never got; duplicates = extra copies, each of which must belong to a row that
 * was in flight at a kill — the sidecar stops with SIGTERM (exit 0 expected), and the emulator is reset, which keeps
 * its state (and this check) bounded however long the run.
 */

export type FaultPhase = 'calm' | 'mixed' | 'outage' | 'storm429' | 'slow' | 'tokenDown';

export const FAULT_PHASES: readonly FaultPhase[] = ['mixed', 'outage', 'storm429', 'slow', 'tokenDown', 'calm'];

export interface ConservationOptions {
  /** Names the temporary folder and the progress lines. */
  label: string;
  seed: number;
  /** Cycles that end in a SIGKILL of a running sidecar. */
  killCycles: number;
  /** A checkpoint (drain, count, emulator reset) after this many cycles. */
  checkpointEvery: number;
  /** At most this many new bodies per cycle (bodies left over from a killed cycle are posted first, on top). */
  bodiesPerCycle: number;
  reportsPerBody: number;
  /** Clients posting at once. */
  posters: number;
  /** The SIGKILL lands this long after the sidecar is ready: uniform in [min, max] ms. */
  killAfterMs: readonly [number, number];
  /** Probability that a cycle first SIGKILLs a sidecar during its start (0..startupKillMaxMs after spawn). */
  startupKillRate: number;
  startupKillMaxMs: number;
  /** Fault phases drawn per cycle; `cycle` takes them in turn (so a short run has each), `random` draws. */
  phases: readonly FaultPhase[];
  phaseOrder: 'cycle' | 'random';
  /** How long a checkpoint waits for the emulator to hold every acknowledged report. */
  drainTimeoutMs: number;
  /** Extra PCM_* settings of the sidecar. */
  sidecarEnv?: Record<string, string>;
  /** Keep the run's folder (spool, certificates) even when the run is clean; it is always kept when it is not. */
  keep?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

export const CONSERVATION_DEFAULTS: Omit<ConservationOptions, 'label' | 'killCycles'> = {
  seed: 1,
  checkpointEvery: 10,
  bodiesPerCycle: 60,
  reportsPerBody: 50,
  posters: 4,
  killAfterMs: [200, 2500],
  startupKillRate: 0.25,
  startupKillMaxMs: 400,
  phases: FAULT_PHASES,
  phaseOrder: 'random',
  drainTimeoutMs: 120_000,
};

/** The sidecar's sender settings: fast retries so faults and kills interleave many times per cycle. */
const SIDECAR_ENV: Record<string, string> = {
  PCM_MAX_BATCH_SIZE: '100',
  PCM_MAX_BATCH_DELAY_MS: '10',
  PCM_MAX_CONCURRENT_BATCHES: '3',
  // Above the slowest injected answer (slow phase: at most 1.2 s), so a slow answer is never also a timeout — a
  // timed-out request the emulator went on to store would be a duplicate no kill explains.
  PCM_EXPORT_TIMEOUT_MS: '4000',
  PCM_CONNECT_TIMEOUT_MS: '2000',
  PCM_TOKEN_TIMEOUT_MS: '2000',
  PCM_RETRY_INITIAL_DELAY_MS: '20',
  PCM_RETRY_MAX_DELAY_MS: '300',
};

export interface ConservationSummary {
  label: string;
  seed: number;
  durationMs: number;
  /** Cycles that ended in a SIGKILL of a running sidecar. */
  killCycles: number;
  /** All SIGKILLs: one per kill cycle plus those during a start. */
  sigkills: number;
  startupKills: number;
  checkpoints: number;
  /** Reports (distinct fapiInteractionIds) answered 2xx by the ingest. */
  acknowledged: number;
  /** Generated reports never acknowledged, even by the checkpoint's sidecar (expected 0). */
  neverAcknowledged: number;
  /** Acknowledged reports the emulator never received. */
  lost: number;
  lostSample: string[];
  /** Extra copies the emulator received (copies − 1 per id). */
  duplicates: number;
  /** Distinct ids received more than once. */
  duplicatedIds: number;
  /** Of those, ids that were not in flight at any kill (expected 0). */
  duplicatesNotInFlight: number;
  /** Rows leased (inflight) in the spool when a SIGKILL hit, over all kills. */
  inflightAtKills: number;
  /** Reports the emulator DISCARDED (expected 0: every report is valid). */
  discarded: number;
  /** 2xx answers whose counts did not cover every item (expected 0). */
  partialAnswers: number;
  /** Report API answers of the emulator by status (and `hang`, `reset`). */
  emulatorAnswers: Record<string, number>;
  /** Token endpoint answers of the emulator by status. */
  tokenAnswers: Record<string, number>;
  /** Cycles per fault phase. */
  phases: Record<string, number>;
  /** Sidecar exits that were not ours: not the SIGKILL we sent, or not 0 after SIGTERM (expected 0). */
  unexpectedExits: string[];
  /** Error-level log lines of the sidecar. */
  sidecarErrorLogs: number;
  peakSidecarRssMiB: number;
  peakEmulatorRssMiB: number;
  /** The run's folder when kept (a problem, or `keep`); a clean run deletes it (its spool grows to hundreds of MB). */
  keptAt: string | null;
}

interface Body {
  ids: string[];
  text: string;
}

interface Posted {
  ok: boolean;
  partial: boolean;
}

function uniform(rand: () => number, [min, max]: readonly [number, number]): number {
  return min + rand() * (max - min);
}

/** One fault phase as the emulator's fault settings, at `now`; `restoreAfterMs`: turned off again within the cycle. */
function phaseFaults(phase: FaultPhase, rand: () => number, now: number): { faults: Record<string, unknown>; revokeTokens: boolean; restoreAfterMs: number | null } {
  const seed = Math.floor(rand() * 2 ** 31);
  switch (phase) {
    case 'calm':
      return { faults: {}, revokeTokens: false, restoreAfterMs: null };
    case 'mixed':
      return {
        faults: {
          seed,
          latencyMs: 5,
          latencyJitterMs: 20,
          errorRates: { '503': 0.15, '500': 0.05, '429': 0.1 },
          retryAfterSeconds: 0,
          resetRate: 0.05,
          hangRate: 0.03,
        },
        revokeTokens: false,
        restoreAfterMs: null,
      };
    case 'outage': {
      // The PCM is down for 0.5–3 s, starting within the first second: refused, left hanging, or reset.
      const from = now + rand() * 1000;
      const to = from + 500 + rand() * 2500;
      const mode = (['status', 'hang', 'reset'] as const)[Math.floor(rand() * 3)] ?? 'status';
      const status = [503, 502, 500, 504][Math.floor(rand() * 4)] ?? 503;
      return {
        faults: { seed, outages: [{ from: new Date(from).toISOString(), to: new Date(to).toISOString(), mode, status }] },
        revokeTokens: false,
        restoreAfterMs: null,
      };
    }
    case 'storm429':
      return { faults: { seed, errorRates: { '429': 0.85 }, retryAfterSeconds: rand() < 0.5 ? 0 : 1 }, revokeTokens: false, restoreAfterMs: null };
    case 'slow':
      // Slow answers, all well under PCM_EXPORT_TIMEOUT_MS.
      return { faults: { seed, latencyMs: 200, latencyJitterMs: 1000 }, revokeTokens: false, restoreAfterMs: null };
    case 'tokenDown': {
      // The token host refuses or hangs; live tokens are revoked, so even a sidecar holding one must fetch another.
      const token = rand() < 0.5 ? { errorRate: 1, status: [503, 500, 502][Math.floor(rand() * 3)] ?? 503 } : { hangRate: 1 };
      return { faults: { seed, token }, revokeTokens: true, restoreAfterMs: rand() < 0.5 ? 500 + rand() * 1500 : null };
    }
  }
}

export async function runConservation(input: Partial<ConservationOptions> & Pick<ConservationOptions, 'label' | 'killCycles'>): Promise<ConservationSummary> {
  const options: ConservationOptions = { ...CONSERVATION_DEFAULTS, ...input };
  const log = options.log ?? ((): void => {});
  const rand = mulberry32(options.seed);
  const started = Date.now();
  const sidecarRss = new RssSampler();
  const emulatorRss = new RssSampler(500);

  const summary: ConservationSummary = {
    label: options.label,
    seed: options.seed,
    durationMs: 0,
    killCycles: 0,
    sigkills: 0,
    startupKills: 0,
    checkpoints: 0,
    acknowledged: 0,
    neverAcknowledged: 0,
    lost: 0,
    lostSample: [],
    duplicates: 0,
    duplicatedIds: 0,
    duplicatesNotInFlight: 0,
    inflightAtKills: 0,
    discarded: 0,
    partialAnswers: 0,
    emulatorAnswers: {},
    tokenAnswers: {},
    phases: {},
    unexpectedExits: [],
    sidecarErrorLogs: 0,
    peakSidecarRssMiB: 0,
    peakEmulatorRssMiB: 0,
    keptAt: null,
  };

  let stack: TwoOrgStack | null = null;
  let control: EmulatorControl | null = null;
  // The sidecar process running now, if any (an object: TypeScript does not see closures assign a plain variable).
  const live: { proc: Proc | null } = { proc: null };
  let nextReport = 0;
  // This stretch (since the last checkpoint): what was generated, acknowledged and in flight at a kill.
  let queue: Body[] = [];
  let generated = 0;
  let acked = new Set<string>();
  let inflightAtKill = new Set<string>();

  const newBody = (): Body => {
    const reports = Array.from({ length: options.reportsPerBody }, () => validReport(nextReport++));
    generated += reports.length;
    return { ids: reports.map((r) => r.fapiInteractionId as string), text: JSON.stringify(reports) };
  };

  const spawnSidecar = (s: TwoOrgStack): Proc => {
    const proc = startCli(['run', ...s.args], s.env);
    sidecarRss.watch(proc.child.pid);
    live.proc = proc;
    return proc;
  };

  /** SIGKILL and wait for the exit; a process that had already exited on its own is a finding. */
  const kill = async (proc: Proc, what: string): Promise<void> => {
    sidecarRss.unwatch(proc.child.pid);
    const alreadyExited = proc.child.exitCode !== null || proc.child.signalCode !== null;
    proc.child.kill('SIGKILL');
    const exit = await proc.exited;
    if (alreadyExited || exit.signal !== 'SIGKILL') summary.unexpectedExits.push(`${what}: exited ${exit.code ?? exit.signal} before the SIGKILL`);
    summary.sigkills++;
    live.proc = null;
  };

  /** The ids of rows leased when the process died: the only ones the PCM may receive twice. */
  const recordInflight = (s: TwoOrgStack): void => {
    // No spool yet (killed before it was created): nothing was in flight.
    if (!existsSync(s.spoolPath)) return;
    const db = new Database(s.spoolPath, { fileMustExist: true });
    try {
      const rows = db.prepare(`SELECT fapi_interaction_id AS id FROM reports WHERE state = 'inflight'`).all() as { id: string }[];
      summary.inflightAtKills += rows.length;
      for (const { id } of rows) inflightAtKill.add(id.toLowerCase());
    } finally {
      db.close();
    }
  };

  const post = async (agent: Agent, url: string, body: Body): Promise<Posted> => {
    try {
      const res = await request(`${url}/v1/reports`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: body.text,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
      const text = await res.body.text();
      if (res.statusCode < 200 || res.statusCode > 299) return { ok: false, partial: false };
      const counts = JSON.parse(text) as { accepted?: number; duplicates?: number };
      const stored = (counts.accepted ?? 0) + (counts.duplicates ?? 0);
      return stored === body.ids.length ? { ok: true, partial: false } : { ok: false, partial: true };
    } catch {
      // Refused, reset or cut by the SIGKILL: not acknowledged.
      return { ok: false, partial: false };
    }
  };

  /**
   * Posts from `posters` clients until `stop()` says so: first the bodies not acknowledged yet, then up to `budget`
   * new ones. Resolves once every client has stopped.
   */
  const postUntil = async (url: string, budget: number, stop: () => boolean): Promise<void> => {
    const agent = new Agent({ connections: options.posters });
    let fresh = 0;
    try {
      await Promise.all(
        Array.from({ length: options.posters }, async () => {
          while (!stop()) {
            let body = queue.shift();
            if (!body && fresh < budget) {
              fresh++;
              body = newBody();
            }
            if (!body) {
              await sleep(20);
              continue;
            }
            const answer = await post(agent, url, body);
            if (answer.partial) summary.partialAnswers++;
            if (answer.ok) for (const id of body.ids) acked.add(id.toLowerCase());
            else queue.push(body);
          }
        }),
      );
    } finally {
      await agent.destroy();
    }
  };

  const applyPhase = async (phase: FaultPhase): Promise<number | null> => {
    const { faults, revokeTokens, restoreAfterMs } = phaseFaults(phase, rand, Date.now());
    await control!.call<FaultConfig>('PUT', '/emulator/faults', faults);
    if (revokeTokens) await control!.call('POST', '/emulator/tokens/revoke');
    bump(summary.phases, phase);
    return restoreAfterMs;
  };

  const collectStats = (stats: EmulatorStats): void => {
    for (const [route, byStatus] of Object.entries(stats.requests)) {
      if (route.startsWith('POST /report-api/')) mergeCounts(summary.emulatorAnswers, byStatus);
      else if (route.startsWith('POST /token')) mergeCounts(summary.tokenAnswers, byStatus);
    }
  };

  /** Everything the emulator holds now, page by page. */
  const allReports = async (): Promise<StoredReport[]> => {
    const out: StoredReport[] = [];
    const limit = 50_000;
    for (let offset = 0; ; offset += limit) {
      const { data } = await control!.call<{ data: StoredReport[] }>('GET', `/emulator/reports?_limit=${limit}&_offset=${offset}`);
      out.push(...data);
      if (data.length < limit) return out;
    }
  };

  const checkpoint = async (s: TwoOrgStack): Promise<void> => {
    await control!.call('PUT', '/emulator/faults', {});
    const proc = spawnSidecar(s);
    const watch = new LogWatch(proc);
    try {
      const url = await waitForLogValue(proc, 'ingestUrl', 60_000);
      const adminUrl = await waitForLogValue(proc, 'adminUrl', 60_000);
      const deadline = Date.now() + options.drainTimeoutMs;
      // Whatever is not acknowledged yet is posted until it is (bounded by the deadline).
      await postUntil(url, 0, () => queue.length === 0 || Date.now() > deadline);
      summary.neverAcknowledged += queue.reduce((n, b) => n + b.ids.length, 0);
      // Wait for the emulator to hold as many distinct ids as were acknowledged, then for the spool to be empty.
      while (Date.now() < deadline) {
        const stats = await control!.call<EmulatorStats>('GET', '/emulator/stats');
        if (stats.distinctFapiInteractionIds >= acked.size) break;
        await sleep(250);
      }
      while (Date.now() < deadline) {
        const status = await request(`${adminUrl}/v1/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        const { spool } = (await status.body.json()) as { spool: Record<string, number> };
        if ((spool.pending ?? 0) + (spool.inflight ?? 0) === 0) break;
        await sleep(250);
      }
      const received = await allReports();
      const copies = new Map<string, number>();
      for (const r of received) {
        const report = r.report as { fapiInteractionId?: unknown };
        const id = typeof report.fapiInteractionId === 'string' ? report.fapiInteractionId.toLowerCase() : '';
        copies.set(id, (copies.get(id) ?? 0) + 1);
        if (r.status === 'DISCARDED') summary.discarded++;
      }
      for (const id of acked) {
        if (copies.has(id)) continue;
        summary.lost++;
        if (summary.lostSample.length < 20) summary.lostSample.push(id);
      }
      for (const [id, n] of copies) {
        if (n < 2) continue;
        summary.duplicates += n - 1;
        summary.duplicatedIds++;
        if (!inflightAtKill.has(id)) summary.duplicatesNotInFlight++;
      }
      summary.acknowledged += acked.size;
      collectStats(await control!.call<EmulatorStats>('GET', '/emulator/stats'));
      sidecarRss.unwatch(proc.child.pid);
      const exit = await stopProc(proc);
      live.proc = null;
      if (exit.code !== 0) summary.unexpectedExits.push(`checkpoint ${summary.checkpoints + 1}: SIGTERM ended with ${exit.code ?? exit.signal}`);
      summary.checkpoints++;
      log(
        `${options.label}: checkpoint ${summary.checkpoints} after ${summary.killCycles} kill cycles: ${acked.size} acknowledged, ` +
          `${received.length} received, lost so far ${summary.lost}, duplicates so far ${summary.duplicates}, peak sidecar RSS ${sidecarRss.peakMiB.toFixed(0)} MiB`,
      );
      // A fresh emulator state for the next stretch; nothing of this one is left in the spool or in flight.
      await control!.call('POST', '/emulator/reset');
      queue = [];
      generated = 0;
      acked = new Set();
      inflightAtKill = new Set();
    } finally {
      watch.stop();
      summary.sidecarErrorLogs += watch.errors;
    }
  };

  let finished = false;
  try {
    stack = await twoOrgStack(`soak-${options.label}`, { ...SIDECAR_ENV, ...options.sidecarEnv }, async (dir) => {
      const faults = join(dir, 'faults.json');
      await writeFile(faults, '{}');
      // No rate limit but the injected one; reconciliation effectively off (it is not what this run checks, and it
      // would rescan every unpaired report twice a second).
      return ['--faults', faults, '--rate-limit', '1000000', '--pairing-delay-ms', String(24 * 60 * 60 * 1000)];
    });
    const s = stack;
    control = new EmulatorControl(s.emulator.url, s.ca);
    emulatorRss.watch(s.emulator.proc.child.pid);

    for (let cycle = 1; cycle <= options.killCycles; cycle++) {
      const phase =
        options.phaseOrder === 'cycle'
          ? (options.phases[(cycle - 1) % options.phases.length] ?? 'calm')
          : (options.phases[Math.floor(rand() * options.phases.length)] ?? 'calm');
      const restoreAfterMs = await applyPhase(phase);
      const restore = restoreAfterMs === null ? null : setTimeout(() => void control?.call('PUT', '/emulator/faults', {}).catch(() => {}), restoreAfterMs);

      if (rand() < options.startupKillRate) {
        const early = spawnSidecar(s);
        await sleep(rand() * options.startupKillMaxMs);
        await kill(early, `cycle ${cycle} start`);
        summary.startupKills++;
        recordInflight(s);
      }

      const proc = spawnSidecar(s);
      const watch = new LogWatch(proc);
      try {
        const url = await waitForLogValue(proc, 'ingestUrl', 60_000);
        const killAt = Date.now() + uniform(rand, options.killAfterMs);
        const killing: { done: Promise<void> | null } = { done: null };
        const timer = setTimeout(() => {
          killing.done = kill(proc, `cycle ${cycle}`);
        }, killAt - Date.now());
        await postUntil(url, options.bodiesPerCycle, () => killing.done !== null);
        clearTimeout(timer);
        await (killing.done ?? kill(proc, `cycle ${cycle}`));
        summary.killCycles++;
        recordInflight(s);
      } finally {
        if (restore) clearTimeout(restore);
        watch.stop();
        summary.sidecarErrorLogs += watch.errors;
      }
      if (cycle % options.checkpointEvery === 0 || cycle === options.killCycles) await checkpoint(s);
      else if (cycle % 10 === 0) log(`${options.label}: ${cycle}/${options.killCycles} kill cycles, ${generated} reports generated in this stretch`);
    }
    finished = true;
  } finally {
    if (live.proc) await stopProc(live.proc, 'SIGKILL');
    sidecarRss.stop();
    emulatorRss.sample();
    emulatorRss.stop();
    await control?.close();
    if (stack) {
      await stopProc(stack.emulator.proc);
      const clean = finished && summary.lost === 0 && summary.duplicatesNotInFlight === 0 && summary.unexpectedExits.length === 0;
      if (clean && !options.keep) rmSync(dirname(stack.spoolPath), { recursive: true, force: true });
      else summary.keptAt = dirname(stack.spoolPath);
    }
  }
  summary.peakSidecarRssMiB = sidecarRss.peakMiB;
  summary.peakEmulatorRssMiB = emulatorRss.peakMiB;
  summary.durationMs = Date.now() - started;
  return summary;
}
