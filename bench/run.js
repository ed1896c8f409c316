#!/usr/bin/env node
// pcm-sidecar benchmark (issue #9): every row of the goal table, each beside a baseline measured in the same run,
// medians (min–max) over rounds. `npm run bench` = `npm run build && node bench/run.js`.
//
//   node bench/run.js                        # full run: 3 rounds, 5,000,000-report backlog (goal: < 10 min on 2 cores;
//                                            # with today's spool its prefill alone took 370 s on a busy 2-core machine)
//   node bench/run.js --quick                # smoke test: 1 short round, 100,000-report backlog (< 2 min)
//   node bench/run.js --only=drain-sink,start
//
// Flags (each takes --flag=value or --flag value):
//   --quick                 1 round, 2 s loads, 20,000-report drains, 100,000-report backlog, 20,000 SQLite rows
//   --only=a,b              scenarios to run (default: all but storm); a scenario that compares against another
//                           pulls that one in (printed). Names:
//       sqlite              bare better-sqlite3 append (WAL, synchronous=FULL), transactions of 100 and of 1000
//       ingest-single       one report per POST: sidecar (sync=full) vs bare node:http + JSON.parse, at peak and
//                           at a fixed rate of half the sidecar's peak (autocannon overallRate)
//       ingest-array100     100 reports per POST: sidecar vs bare parse, and vs Fluent Bit when FLUENT_BIT is set
//       parse-threads       1,000-report bodies with PCM_INGEST_PARSE_THREADS 0 and 1 (piscina), same round
//       drain-sink          spool → trivial loopback HTTPS sink: sidecar vs a bare undici loop posting the same batches
//       drain-emulator      spool → PcmEmulator (in-memory state): sidecar vs the same bare undici loop
//       rss                 peak RSS (/proc VmHWM, and VmRSS sampled every 20 ms) of the sidecar while ingesting, while
//                           draining and with the backlog, vs bare node + better-sqlite3 reading the same spool
//                           (pulls in ingest-array100, drain-sink, backlog)
//       start               spawn → /readyz answering 200 for `pcm-sidecar run` on an empty spool and on the backlog,
//                           vs a bare `node -e` HTTP server answering
//       backlog             ingest-array100 and drain-sink on the backlog spool vs the empty-spool runs of the same
//                           round (pulls in ingest-array100, drain-sink)
//       storm               bench/storm.js (hostile-input RSS, issue #8) as a child; not in the default set
//   --rounds=N              rounds (default 3; --quick 1); cells are median (min–max) over them
//   --duration=S            seconds of each measured peak load (default 5; --quick 2)
//   --warmup=S              seconds of warm-up load before each measured one, not counted (default 1)
//   --half-duration=S       seconds of the fixed-rate (half of peak) load of ingest-single (default 3; --quick 2)
//   --connections=N         autocannon connections (default 32)
//   --drain=N               reports per drain, and per bare undici loop (default 200,000; --quick 20,000)
//   --backlog=N             pending reports in the backlog spool (default 5,000,000; --quick 100,000). Built once per
//                           run through the spool's public API (Spool.write, 5000 reports per call, sync=normal), and
//                           copied per round for the scenarios that change it; the prefill time is printed
//   --reuse-backlog         keep the backlog spool in bench/.work after the run and reuse it in later runs with the
//                           same --backlog and the same built spool code (dist/spool/ hash); for development only
//   --sqlite-rows=N         rows per bare SQLite append job (default 100,000; --quick 20,000)
//   --prof                  V8 CPU profiles of the Node children into bench/.work/prof/ (same as BENCH_PROF=1)
//   -h, --help              this text
// Environment: FLUENT_BIT=/path/to/fluent-bit adds Fluent Bit to ingest-array100 (in_http → filesystem storage →
// out_http to a plain loopback sink; its config is generated under bench/.work/fluent-bit/); unset, a note says so.
//
// Everything listens on 127.0.0.1 only; every load is bounded in time and count. autocannon runs in this process;
// every server runs in its own child process (bench/ingest-server.js, sink-server.js, drain-child.js,
// bare-drain-child.js, sqlite-child.js, rss-child.js; `pcm-sidecar run` and Fluent Bit as spawned programs). CPU time
// per process comes from /proc/<pid>/stat (utime + stime) before and after each measured window; RSS from
// /proc/<pid>/status. Tables: bench/.work/last-run.md (also printed); raw numbers: bench/.work/last-run.json; child
// logs: bench/.work/logs/. Exit code 2 when a check failed (a wrong run: non-2xx, lost or doubled reports, counts
// that do not match); goals are reported, never asserted.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../dist/config/defaults.js';
import {
  BENCH_DIR,
  benchPki,
  bodyFactory,
  copyDurable,
  cpuWindow,
  distStamp,
  ensureDirs,
  LOG_DIR,
  machine,
  ORGS,
  procMem,
  removeDb,
  rowPrefix,
  sleep,
  sourceVersion,
  spoolCodeHash,
  startChild,
  startProcess,
  summary,
  unusedPort,
  watchRss,
  WORK_DIR,
} from './lib.js';

// ---------------------------------------------------------------------------------------------------------------
// Settings

const ALL = ['sqlite', 'ingest-single', 'ingest-array100', 'parse-threads', 'drain-sink', 'drain-emulator', 'rss', 'start', 'backlog', 'storm'];
const DEFAULT_SET = ALL.filter((s) => s !== 'storm');
const PULLS = { rss: ['ingest-array100', 'drain-sink', 'backlog'], backlog: ['ingest-array100', 'drain-sink'] };

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    only: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    'half-duration': { type: 'string' },
    connections: { type: 'string' },
    drain: { type: 'string' },
    backlog: { type: 'string' },
    'reuse-backlog': { type: 'boolean' },
    'sqlite-rows': { type: 'string' },
    prof: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  const text = readFileSync(new URL(import.meta.url), 'utf8').split('\nimport ')[0];
  process.stdout.write(`${text.replace(/^#!.*\n/, '').replace(/^\/\/ ?/gm, '')}\n`);
  process.exit(0);
}
const quick = flags.quick === true;
function num(name, fallback, { min = 0, integer = true } = {}) {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const n = Number(raw.replaceAll('_', '').replaceAll(',', ''));
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    process.stderr.write(`bench: --${name} must be a ${integer ? 'whole ' : ''}number ≥ ${min}, got "${raw}"\n`);
    process.exit(64);
  }
  return n;
}
if (flags.prof) process.env.BENCH_PROF = '1';

const S = {
  quick,
  rounds: num('rounds', quick ? 1 : 3, { min: 1 }),
  duration: num('duration', quick ? 2 : 5, { min: 1, integer: false }),
  warmup: num('warmup', 1, { integer: false }),
  halfDuration: num('half-duration', quick ? 2 : 3, { min: 1, integer: false }),
  connections: num('connections', 32, { min: 1 }),
  drainRows: num('drain', quick ? 20_000 : 200_000, { min: 2 }),
  backlog: num('backlog', quick ? 100_000 : 5_000_000, { min: 2 }),
  reuseBacklog: flags['reuse-backlog'] === true,
  sqliteRows: num('sqlite-rows', quick ? 20_000 : 100_000, { min: 1000 }),
  prefillPerWrite: 5000,
  fluentBit: process.env.FLUENT_BIT || null,
  /** The sidecar's own sender defaults, so the bare drain loop keeps as many batches in flight per organisation. */
  batchesInFlight: DEFAULTS.sender.maxConcurrentBatches,
  batchSize: DEFAULTS.sender.maxBatchSize,
  /** Hard caps so every load loop is bounded in count as well as time. */
  maxRequestsSingle: 3_000_000,
  maxRequestsArray: 300_000,
  /** Above this, something outside the benchmark competed for the CPU during a measurement (a warning). */
  otherCoresLimit: 0.3,
  /** autocannon at or above this many cores: the baseline may be limited by the load generator (a note). */
  loadGenSaturated: 0.9,
};
for (const key of ['drainRows', 'backlog']) if (S[key] % 2 !== 0) S[key] += 1; // whole CLIENT/SERVER pairs
S.drainTimeoutMs = Math.max(120_000, (S.drainRows / 2000) * 1000);

const requested = flags.only ? flags.only.split(',').map((x) => x.trim()).filter(Boolean) : DEFAULT_SET;
for (const name of requested) {
  if (!ALL.includes(name)) {
    process.stderr.write(`bench: unknown scenario "${name}" (one of ${ALL.join(', ')})\n`);
    process.exit(64);
  }
}
const selected = new Set(requested);
const pulled = [];
for (let changed = true; changed; ) {
  changed = false;
  for (const name of [...selected]) {
    for (const need of PULLS[name] ?? []) {
      if (!selected.has(need)) {
        selected.add(need);
        pulled.push(`${need} (for ${name})`);
        changed = true;
      }
    }
  }
}
const on = (name) => selected.has(name);
const command = `node bench/run.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;

const log = (...args) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${args.join(' ')}\n`);
const failures = [];
const warnings = [];
const notes = [];
const fail = (msg) => {
  failures.push(msg);
  log(`CHECK FAILED: ${msg}`);
};
const warn = (msg) => {
  warnings.push(msg);
  log(`warning: ${msg}`);
};
const noteOnce = (msg) => {
  if (!notes.includes(msg)) notes.push(msg);
};
const timings = {}; // scenario → wall seconds spent in it
async function timed(name, fn) {
  const t = performance.now();
  try {
    return await fn();
  } finally {
    timings[name] = (timings[name] ?? 0) + (performance.now() - t) / 1000;
  }
}
const disturbed = (name, w) => {
  if (w.otherCores !== null && w.otherCores > S.otherCoresLimit) warn(`${name}: other processes used ${w.otherCores.toFixed(2)} cores while it measured (disturbed)`);
};

// ---------------------------------------------------------------------------------------------------------------
// Load (autocannon in this process)

function newTally() {
  return { bodies: 0, ok: 0, accepted: 0, duplicates: 0, unparsed: 0, other: {}, samples: [] };
}

function load({ server, makeBody, seconds, rate, maxRequests, reportsPerBody, tally }) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: server.url,
        connections: S.connections,
        pipelining: 1,
        duration: seconds,
        maxOverallRequests: maxRequests,
        ...(rate ? { overallRate: rate } : {}),
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: server.path,
            headers: { 'content-type': 'application/json' },
            setupRequest(req) {
              tally.bodies++;
              req.body = makeBody();
              return req;
            },
            onResponse(status, body) {
              if (status !== server.expectStatus) {
                tally.other[status] = (tally.other[status] ?? 0) + 1;
                if (tally.samples.length < 3) tally.samples.push(`${status} ${String(body).slice(0, 300)}`);
                return;
              }
              tally.ok++;
              if (!server.answersJson) {
                tally.accepted += reportsPerBody;
                return;
              }
              try {
                const answer = JSON.parse(body);
                tally.accepted += answer.accepted;
                tally.duplicates += answer.duplicates;
              } catch {
                tally.unparsed++;
              }
            },
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

/** One measured load against `server`; CPU of the server (and this process, autocannon) from /proc. */
async function measure(server, name, { makeBody, seconds, rate, reportsPerBody, maxRequests }) {
  await server.mark?.();
  const tally = newTally();
  const window = cpuWindow([server.pid]);
  const result = await load({ server, makeBody, seconds, rate, maxRequests, reportsPerBody, tally });
  const w = window.read();
  const elu = await server.read?.();
  const secs = result.duration;
  const cpu = w.per[server.pid];
  const row = {
    name,
    rate: rate ?? null,
    reqPerSec: tally.ok / secs,
    reportsPerSec: tally.accepted / secs,
    latencyP50: result.latency.p50,
    latencyP90: result.latency.p90,
    latencyP99: result.latency.p99,
    latencyMax: result.latency.max,
    seconds: secs,
    ok: tally.ok,
    acked: tally.accepted,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    tally,
    serverCpuSeconds: cpu,
    serverCores: cpu !== null ? cpu / w.wall : null,
    cpuPer1000: cpu !== null && tally.accepted > 0 ? (cpu / tally.accepted) * 1000 : null,
    serverElu: elu ?? null,
    loadGenCores: w.self / w.wall,
    otherCores: w.otherCores,
  };
  if (result.non2xx > 0 || Object.keys(tally.other).length > 0) fail(`${name}: answers other than ${server.expectStatus}: ${JSON.stringify(tally.other)} e.g. ${tally.samples.join(' | ')}`);
  if (result.errors > 0 || result.timeouts > 0) fail(`${name}: ${result.errors} connection errors, ${result.timeouts} timeouts`);
  if (tally.duplicates > 0) fail(`${name}: ${tally.duplicates} reports answered as duplicates (every report is unique)`);
  if (tally.unparsed > 0) fail(`${name}: ${tally.unparsed} answers that are not JSON`);
  if (server.answersJson && tally.accepted !== tally.ok * reportsPerBody) fail(`${name}: ${tally.ok} answers acknowledged ${tally.accepted} reports, not ${tally.ok * reportsPerBody}`);
  if (tally.ok === 0) fail(`${name}: no request answered`);
  disturbed(name, w);
  log(
    `${name}: ${row.reqPerSec.toFixed(0)} req/s, ${row.reportsPerSec.toFixed(0)} reports/s, p50 ${row.latencyP50} ms, p99 ${row.latencyP99} ms,`,
    `server ${row.serverCores?.toFixed(2)} cores, ${row.cpuPer1000?.toFixed(3)} CPU-s/1000, autocannon ${row.loadGenCores.toFixed(2)} cores`,
  );
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// Servers under load

let PKI;

/** The bare node:http baseline or the sidecar (startSidecar, sender → a closed port) in bench/ingest-server.js. */
async function nodeServer(mode, name, spoolPath = null, extra = {}) {
  const child = await startChild(
    'ingest-server.js',
    { mode, spoolPath, sync: 'full', pki: PKI, pcmUrl: `https://127.0.0.1:${await unusedPort()}`, logLevel: 'error', ...extra },
    name,
  );
  const rss = watchRss(child.ready.pid);
  return {
    kind: mode,
    url: child.ready.url,
    path: '/v1/reports',
    expectStatus: 202,
    answersJson: true,
    pid: child.ready.pid,
    mark: () => child.request({ cmd: 'mark' }, 'marked', 10_000),
    read: async () => (await child.request({ cmd: 'read' }, 'read', 10_000)).eventLoopUtilization,
    async stop() {
      const memory = rss.stop();
      try {
        const stopped = await child.request({ cmd: 'stop' }, 'stopped', 30_000);
        return { memory, counts: stopped.counts ?? null, lanes: stopped.lanes ?? null };
      } finally {
        await child.exit(10_000);
      }
    },
  };
}

/** Waits until something accepts TCP connections on 127.0.0.1:port, or `isGone()`, or timeoutMs. */
async function waitForPort(port, timeoutMs, isGone = () => false) {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (isGone()) return false;
    const ok = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return true;
    await sleep(20);
  }
  return false;
}

/** Fluent Bit: in_http → filesystem storage → out_http to a plain loopback sink, config generated here. */
async function fluentBitServer(name) {
  const dir = join(WORK_DIR, 'fluent-bit', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const sink = await startChild('sink-server.js', { mode: 'plain', pki: PKI }, `${name}-sink`);
  const port = await unusedPort();
  const config = `# Generated by bench/run.js for the ingest-array100 comparison; one per run in bench/.work/fluent-bit/.
[SERVICE]
    Flush                     1
    Grace                     1
    Daemon                    Off
    Log_Level                 warn
    HTTP_Server               Off
    storage.path              ${join(dir, 'storage')}
    storage.sync              full
    storage.checksum          off
    storage.backlog.mem_limit 64M

[INPUT]
    Name              http
    Listen            127.0.0.1
    Port              ${port}
    Buffer_Max_Size   16M
    Buffer_Chunk_Size 512K
    storage.type      filesystem

[OUTPUT]
    Name        http
    Match       *
    Host        127.0.0.1
    Port        ${sink.ready.port}
    URI         /fluent-bit
    Format      json
    Retry_Limit False
`;
  const configFile = join(dir, 'fluent-bit.conf');
  writeFileSync(configFile, config);
  const proc = startProcess(S.fluentBit, ['-c', configFile], name);
  const up = await waitForPort(port, 15_000, () => proc.exited !== null);
  if (!up) {
    await proc.exit(2000);
    await sink.exit(2000);
    throw new Error(`Fluent Bit (${S.fluentBit}) did not listen on ${port} within 15 s (${JSON.stringify(proc.exited)}); see ${proc.logFile}`);
  }
  const rss = watchRss(proc.pid);
  return {
    kind: 'fluent-bit',
    url: `http://127.0.0.1:${port}`,
    path: '/bench.reports',
    expectStatus: 201,
    answersJson: false,
    pid: proc.pid,
    sinkPid: sink.ready.pid,
    configFile,
    sinkItems: async () => (await sink.request({ cmd: 'stats' }, 'stats', 10_000)).stats.items,
    async stop() {
      const memory = rss.stop();
      const exited = await proc.exit(10_000);
      await sink.request({ cmd: 'stop' }, 'stopped', 10_000).catch(() => {});
      await sink.exit(5000);
      return { memory, exited };
    },
  };
}

/** Checks the sidecar's spool after an ingest run: every acknowledged report stored, nothing invented. */
function checkIngestSpool(name, counts, acked, bodies, reportsPerBody, loads, before = 0) {
  if (!counts || counts.error) {
    fail(`${name}: spool counts unavailable (${counts?.error ?? 'none'}): cannot check stored rows`);
    return null;
  }
  const rows = counts.pending + counts.inflight + counts.accepted + counts.discarded - before;
  // autocannon drops requests in flight when its time is up; the server may still commit them, so rows can exceed
  // the acknowledged count by up to `connections` bodies per load, but never fall below it.
  if (rows < acked) fail(`${name}: the spool gained ${rows} rows but ${acked} reports were acknowledged (lost rows)`);
  if (rows > acked + loads * S.connections * reportsPerBody) fail(`${name}: the spool gained ${rows} rows, more than ${acked} acknowledged + in flight`);
  if (rows > bodies * reportsPerBody) fail(`${name}: the spool gained ${rows} rows, more than the ${bodies * reportsPerBody} reports generated`);
  if (counts.quarantined > 0) fail(`${name}: ${counts.quarantined} items quarantined`);
  if (counts.inflight > 0) fail(`${name}: ${counts.inflight} rows still in flight after the stop`);
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

const results = { sqlite: [], prefill: {}, ingestSingle: [], ingestArray: [], parseThreads: [], drain: [], start: [], backlog: [], rssBaseline: [] };
let DRAIN = null; // { path, prefix, now }
let BACKLOG = null; // { path, prefix, now, rows }

async function sqliteJob(options, name, timeoutMs = 600_000) {
  const child = await startChild('sqlite-child.js', options, name);
  try {
    const answer = await Promise.race([child.waitFor('done', timeoutMs), child.waitFor('failed', timeoutMs).then((f) => Promise.reject(new Error(`${name}: ${f.error}`)))]);
    return answer;
  } finally {
    await child.exit(10_000);
  }
}

async function sqliteRound(round) {
  for (const txnRows of [100, 1000]) {
    const name = `sqlite-append-txn${txnRows}-r${round}`;
    const r = await sqliteJob({ mode: 'append', path: join(WORK_DIR, `${name}.db`), rows: S.sqliteRows, txnRows, now: Date.now(), prefix: rowPrefix() }, name);
    if (r.stored !== S.sqliteRows) fail(`${name}: stored ${r.stored} of ${S.sqliteRows} rows`);
    results.sqlite.push({ round, txnRows, rowsPerSec: r.rowsPerSec, elapsedMs: r.elapsedMs, avgRowBytes: r.avgRowBytes });
    log(`${name}: ${r.rowsPerSec.toFixed(0)} rows/s (${(r.avgRowBytes).toFixed(0)} B rows)`);
  }
}

async function prefill(kind, path, rows, prefix, now) {
  log(`prefill ${kind}: ${rows.toLocaleString('en-US')} reports through Spool.write (${S.prefillPerWrite} per call, sync=normal) …`);
  const t = performance.now();
  const r = await sqliteJob({ mode: 'prefill', path, rows, perWrite: S.prefillPerWrite, sync: 'normal', prefix, now }, `prefill-${kind}`, 3_600_000);
  const wallMs = performance.now() - t;
  if (r.stored !== rows) fail(`prefill ${kind}: Spool.write stored ${r.stored} of ${rows} (${r.duplicates} duplicates)`);
  if (r.counts && r.counts.pending !== rows) fail(`prefill ${kind}: spool counts ${JSON.stringify(r.counts)} after writing ${rows}`);
  results.prefill[kind] = { rows, wallMs, rowsPerSec: r.rowsPerSec, writeMs: r.writeMs, avgReportBytes: r.avgReportBytes, fileMiB: r.fileBytes / 2 ** 20, reused: false };
  log(`prefill ${kind}: ${(wallMs / 1000).toFixed(1)} s, ${r.rowsPerSec.toFixed(0)} reports/s, file ${(r.fileBytes / 2 ** 20).toFixed(0)} MiB, avg report ${r.avgReportBytes.toFixed(0)} B`);
}

async function prepareDrainSpool() {
  const now = Date.now();
  DRAIN = { path: join(WORK_DIR, 'drain-template.db'), prefix: rowPrefix(), now };
  await timed('prefill', () => prefill('drain', DRAIN.path, S.drainRows, DRAIN.prefix, now));
}

async function prepareBacklogSpool() {
  const base = join(WORK_DIR, `backlog-${S.backlog}-${spoolCodeHash()}`);
  const meta = `${base}.json`;
  if (S.reuseBacklog && existsSync(meta) && existsSync(`${base}.db`)) {
    BACKLOG = JSON.parse(readFileSync(meta, 'utf8'));
    results.prefill.backlog = { ...BACKLOG.prefill, reused: true };
    log(`backlog: reusing ${base}.db (--reuse-backlog; built ${new Date(BACKLOG.now).toISOString()} in ${(BACKLOG.prefill.wallMs / 1000).toFixed(1)} s)`);
    return;
  }
  const now = Date.now();
  BACKLOG = { path: `${base}.db`, prefix: rowPrefix(), now, rows: S.backlog };
  await timed('prefill', () => prefill('backlog', BACKLOG.path, S.backlog, BACKLOG.prefix, now));
  BACKLOG.prefill = results.prefill.backlog;
  if (S.reuseBacklog) writeFileSync(meta, JSON.stringify(BACKLOG, null, 2));
}

// --- ingest

async function ingestSingleRound(round) {
  const factory = bodyFactory();
  const makeBody = () => factory.single();
  const common = { makeBody, reportsPerBody: 1, maxRequests: S.maxRequestsSingle };
  const out = { round };
  // The sidecar first: its peak sets the fixed rate both servers then get.
  const spoolPath = join(WORK_DIR, `ingest-single-r${round}.db`);
  removeDb(spoolPath);
  const sidecar = await nodeServer('sidecar', `ingest-single-sidecar-r${round}`, spoolPath);
  let sidecarStop;
  try {
    if (S.warmup > 0) out.sidecarWarmup = await measure(sidecar, `ingest-single-sidecar-warmup-r${round}`, { ...common, seconds: S.warmup });
    out.sidecar = await measure(sidecar, `ingest-single-sidecar-r${round}`, { ...common, seconds: S.duration });
    out.halfRate = Math.max(1, Math.floor(out.sidecar.reqPerSec / 2));
    out.sidecarHalf = await measure(sidecar, `ingest-single-sidecar-half-r${round}`, { ...common, seconds: S.halfDuration, rate: out.halfRate });
  } finally {
    sidecarStop = await sidecar.stop();
  }
  out.sidecarRss = sidecarStop.memory;
  const loads = [out.sidecarWarmup, out.sidecar, out.sidecarHalf].filter(Boolean);
  checkIngestSpool(
    `ingest-single-sidecar-r${round}`,
    sidecarStop.counts,
    loads.reduce((n, l) => n + l.acked, 0),
    loads.reduce((n, l) => n + l.tally.bodies, 0),
    1,
    loads.length,
  );
  removeDb(spoolPath);

  const bare = await nodeServer('bare', `ingest-single-bare-r${round}`);
  try {
    if (S.warmup > 0) await measure(bare, `ingest-single-bare-warmup-r${round}`, { ...common, seconds: S.warmup });
    out.bare = await measure(bare, `ingest-single-bare-r${round}`, { ...common, seconds: S.duration });
    out.bareHalf = await measure(bare, `ingest-single-bare-half-r${round}`, { ...common, seconds: S.halfDuration, rate: out.halfRate });
  } finally {
    out.bareRss = (await bare.stop()).memory;
  }
  if (S.fluentBit) {
    // The same single-report load against Fluent Bit's C HTTP server (informational: the goal is node:http's own limit).
    const name = `ingest-single-fluent-bit-r${round}`;
    try {
      const fb = await fluentBitServer(name);
      try {
        if (S.warmup > 0) await measure(fb, `${name}-warmup`, { ...common, seconds: S.warmup });
        out.fluentBit = await measure(fb, name, { ...common, seconds: S.duration });
      } finally {
        out.fluentBitRss = (await fb.stop()).memory;
      }
    } catch (err) {
      fail(`${name}: ${err.message}`);
    }
  }
  if (out.bare.loadGenCores >= S.loadGenSaturated) {
    noteOnce(`ingest-single: autocannon used ≥ ${S.loadGenSaturated} cores against the bare server, so the bare baseline is partly limited by the load generator on this machine (its req/s is a floor; the ratio flatters the sidecar).`);
  }
  results.ingestSingle.push(out);
}

async function ingestArrayLoad(server, name, { factory, spoolCheck = true, before = 0 }) {
  const makeBody = () => factory.pairs(50);
  const common = { makeBody, reportsPerBody: 100, maxRequests: S.maxRequestsArray };
  const out = {};
  let stopped;
  try {
    if (S.warmup > 0) out.warmup = await measure(server, `${name}-warmup`, { ...common, seconds: S.warmup });
    out.peak = await measure(server, name, { ...common, seconds: S.duration });
    if (server.kind === 'fluent-bit') {
      // Delivery is asynchronous: give it a few seconds to reach the sink, and report how much had.
      const acked = (out.warmup?.acked ?? 0) + out.peak.acked;
      const until = performance.now() + 15_000;
      let items = await server.sinkItems();
      while (items < acked && performance.now() < until) {
        await sleep(250);
        items = await server.sinkItems();
      }
      out.delivered = items;
      out.deliveredOf = acked;
      if (items < acked) warn(`${name}: Fluent Bit had delivered ${items} of ${acked} acknowledged records to its sink 15 s after the load`);
    }
  } finally {
    stopped = await server.stop();
  }
  out.rss = stopped.memory;
  if (server.kind === 'sidecar' && spoolCheck) {
    const loads = [out.warmup, out.peak].filter(Boolean);
    out.spoolRowsAfter = stopped.counts ? stopped.counts.pending + stopped.counts.inflight + stopped.counts.accepted + stopped.counts.discarded : null;
    checkIngestSpool(name, stopped.counts, loads.reduce((n, l) => n + l.acked, 0), loads.reduce((n, l) => n + l.tally.bodies, 0), 100, loads.length, before);
  }
  return out;
}

/**
 * parse-threads: 1,000-report bodies (~530 KB) posted by 32 connections to the sidecar with PCM_INGEST_PARSE_THREADS
 * 0 (everything on the event loop) and 1 (bodies parsed and validated by a piscina thread), same round.
 */
async function parseThreadsRound(round) {
  const factory = bodyFactory();
  const out = { round };
  for (const threads of [0, 1]) {
    const spoolPath = join(WORK_DIR, `parse-threads-${threads}-r${round}.db`);
    removeDb(spoolPath);
    const name = `parse-threads-${threads}-r${round}`;
    const server = await nodeServer('sidecar', name, spoolPath, { parseThreads: threads });
    const common = { makeBody: () => factory.pairs(500), reportsPerBody: 1000, maxRequests: Math.ceil(S.maxRequestsArray / 10) };
    try {
      if (S.warmup > 0) await measure(server, `${name}-warmup`, { ...common, seconds: S.warmup });
      out[`t${threads}`] = await measure(server, name, { ...common, seconds: S.duration });
    } finally {
      out[`t${threads}`].rss = (await server.stop()).memory;
    }
    removeDb(spoolPath);
  }
  results.parseThreads.push(out);
  log(`parse-threads r${round}: 0 threads ${fmt(out.t0.reportsPerSec)} reports/s, 1 thread ${fmt(out.t1.reportsPerSec)} reports/s`);
}

async function ingestArrayRound(round) {
  const factory = bodyFactory();
  const out = { round };
  const spoolPath = join(WORK_DIR, `ingest-array100-r${round}.db`);
  removeDb(spoolPath);
  out.sidecar = await ingestArrayLoad(await nodeServer('sidecar', `ingest-array100-sidecar-r${round}`, spoolPath), `ingest-array100-sidecar-r${round}`, { factory });
  removeDb(spoolPath);
  out.bare = await ingestArrayLoad(await nodeServer('bare', `ingest-array100-bare-r${round}`), `ingest-array100-bare-r${round}`, { factory });
  if (S.fluentBit) {
    try {
      out.fluentBit = await ingestArrayLoad(await fluentBitServer(`ingest-array100-fluent-bit-r${round}`), `ingest-array100-fluent-bit-r${round}`, { factory });
    } catch (err) {
      fail(`ingest-array100-fluent-bit-r${round}: ${err.message}`);
    }
  }
  results.ingestArray.push(out);
}

// --- drain

function sinkReceived(mode, stats) {
  return mode === 'emulator' ? (stats.reports.ACCEPTED ?? 0) + (stats.reports.DISCARDED ?? 0) : stats.items;
}

async function startSink(mode, name, expected) {
  return startChild('sink-server.js', { mode, pki: PKI, maxReports: expected + 50_000 }, name);
}

async function stopSink(sink) {
  const stats = (await sink.request({ cmd: 'stats' }, 'stats', 10_000)).stats;
  await sink.request({ cmd: 'stop' }, 'stopped', 10_000).catch(() => {});
  await sink.exit(5000);
  return stats;
}

/**
 * The sidecar drains `expected` reports from `spoolPath` (which may hold more: `totalRows`) to a fresh sink.
 * CPU (sidecar, sink) and RSS (sidecar) from /proc between 'go' and the moment `expected` were answered.
 */
async function sidecarDrain(name, mode, spoolPath, expected, totalRows) {
  const sink = await startSink(mode, `${name}-sink`, expected);
  let drained;
  let done;
  let w;
  let memory;
  let stats;
  try {
    const child = await startChild(
      'drain-child.js',
      { spoolPath, pki: PKI, pcmUrl: sink.ready.url, authUrl: sink.ready.authUrl, expected, timeoutMs: S.drainTimeoutMs, logLevel: 'warn', exposeGc: false },
      name,
    );
    try {
      const rss = watchRss(child.ready.pid);
      const window = cpuWindow([child.ready.pid, sink.ready.pid]);
      child.child.send({ cmd: 'go' });
      drained = await child.waitFor('drained', S.drainTimeoutMs + 60_000);
      w = window.read();
      memory = rss.stop();
      w.sidecar = w.per[child.ready.pid];
      w.sink = w.per[sink.ready.pid];
      done = await child.waitFor('done', 60_000);
    } finally {
      await child.exit(15_000);
    }
  } finally {
    stats = await stopSink(sink).catch((err) => ({ error: String(err) }));
  }
  const c = done.counts;
  const received = stats.error ? null : sinkReceived(mode, stats);
  const retries = done.lanes.reduce((n, l) => n + l.retries, 0);
  if (drained.timedOut) fail(`${name}: only ${drained.answered}/${expected} reports answered within ${S.drainTimeoutMs} ms`);
  if (retries > 0) fail(`${name}: the sender retried ${retries} times; last errors ${JSON.stringify(done.lanes.map((l) => l.lastError).filter(Boolean))}`);
  if (received !== done.answeredFinal) fail(`${name}: the sink received ${received} reports, the sender recorded ${done.answeredFinal} answers (each report must reach it exactly once)`);
  if (totalRows === expected && done.answeredFinal !== expected) fail(`${name}: ${done.answeredFinal} reports answered for ${expected} in the spool`);
  if (!c || c.error) fail(`${name}: spool counts unavailable after the drain (${c?.error ?? 'none'})`);
  else {
    if (c.accepted !== done.answeredFinal || c.discarded !== 0) fail(`${name}: spool holds ${c.accepted} accepted / ${c.discarded} discarded for ${done.answeredFinal} answers`);
    if (c.inflight !== 0) fail(`${name}: ${c.inflight} rows still in flight after the stop`);
    if (totalRows !== null && c.pending + c.inflight + c.accepted + c.discarded !== totalRows) fail(`${name}: spool holds ${JSON.stringify(c)}, not ${totalRows} rows`);
  }
  if (mode === 'emulator' && !stats.error) {
    if (stats.duplicatesReceived > 0) fail(`${name}: the emulator saw ${stats.duplicatesReceived} duplicates`);
    if ((stats.reports.DISCARDED ?? 0) > 0) fail(`${name}: the emulator discarded ${stats.reports.DISCARDED} reports`);
  }
  disturbed(name, w);
  const row = {
    name,
    reportsPerSec: drained.reportsPerSec,
    steadyReportsPerSec: drained.steadyReportsPerSec,
    answered: drained.answered,
    elapsedMs: drained.elapsedMs,
    startedMs: drained.startedMs,
    firstBatchMs: drained.firstBatchMs,
    batches: done.lanes.reduce((n, l) => n + l.batchesSent, 0),
    sidecarCpuSeconds: w.sidecar,
    sinkCpuSeconds: w.sink,
    sidecarCpuPer1000: (w.sidecar / drained.answered) * 1000,
    sinkCpuPer1000: (w.sink / drained.answered) * 1000,
    sidecarElu: drained.eventLoopUtilization,
    otherCores: w.otherCores,
    rss: memory,
    counts: c,
    progress: drained.progress,
  };
  log(`${name}: ${row.reportsPerSec.toFixed(0)} reports/s (steady ${row.steadyReportsPerSec?.toFixed(0)}), first answer at ${Math.round(row.firstBatchMs ?? NaN)} ms, sidecar ${row.sidecarCpuPer1000.toFixed(3)} CPU-s/1000, sink ${row.sinkCpuPer1000.toFixed(3)}, peak RSS ${memory.peakMiB.toFixed(0)} MiB`);
  return row;
}

/** The bare undici loop posting the same batches to a fresh sink of the same kind. */
async function bareDrain(name, mode, rows, spool) {
  const sink = await startSink(mode, `${name}-sink`, rows);
  let done;
  let w;
  let stats;
  try {
    const child = await startChild(
      'bare-drain-child.js',
      { rows, prefix: spool.prefix, now: spool.now, pki: PKI, pcmUrl: sink.ready.url, authUrl: sink.ready.authUrl, concurrency: S.batchesInFlight, batchSize: S.batchSize },
      name,
      120_000,
    );
    try {
      const window = cpuWindow([child.ready.pid, sink.ready.pid]);
      child.child.send({ cmd: 'go' });
      done = await child.waitFor('done', S.drainTimeoutMs);
      w = window.read();
      w.client = w.per[child.ready.pid];
      w.sink = w.per[sink.ready.pid];
    } finally {
      await child.exit(10_000);
    }
  } finally {
    stats = await stopSink(sink).catch((err) => ({ error: String(err) }));
  }
  const received = stats.error ? null : sinkReceived(mode, stats);
  if (done.non2xx > 0 || done.badAnswers > 0) fail(`${name}: ${done.non2xx} non-2xx, ${done.badAnswers} bad answers, e.g. ${done.errors.join(' | ')}`);
  if (done.accepted !== rows) fail(`${name}: ${done.accepted} of ${rows} reports accepted (${done.discarded} discarded)`);
  if (received !== rows) fail(`${name}: the sink received ${received} reports of ${rows}`);
  if (mode === 'emulator' && !stats.error && stats.duplicatesReceived > 0) fail(`${name}: the emulator saw ${stats.duplicatesReceived} duplicates`);
  disturbed(name, w);
  const row = {
    name,
    reportsPerSec: done.reportsPerSec,
    elapsedMs: done.elapsedMs,
    requests: done.requests,
    clientCpuSeconds: w.client,
    sinkCpuSeconds: w.sink,
    clientCpuPer1000: (w.client / rows) * 1000,
    sinkCpuPer1000: (w.sink / rows) * 1000,
    clientElu: done.eventLoopUtilization,
    otherCores: w.otherCores,
  };
  log(`${name}: ${row.reportsPerSec.toFixed(0)} reports/s, client ${row.clientCpuPer1000.toFixed(3)} CPU-s/1000, sink ${row.sinkCpuPer1000.toFixed(3)}`);
  return row;
}

async function rssBaseline(name, spoolPath) {
  const child = await startChild('rss-child.js', { spoolPath }, name);
  try {
    const rss = watchRss(child.ready.pid);
    const done = await child.waitFor('done', 600_000);
    const memory = rss.stop();
    child.child.send({ cmd: 'exit' });
    log(`${name}: bare better-sqlite3 read ${done.rows} rows (${done.dataMiB.toFixed(0)} MiB) in ${done.tables} tables, peak RSS ${memory.peakMiB.toFixed(0)} MiB`);
    return { ...memory, rows: done.rows, dataMiB: done.dataMiB };
  } finally {
    await child.exit(10_000);
  }
}

async function drainRound(round, mode) {
  const scenario = mode === 'emulator' ? 'drain-emulator' : 'drain-sink';
  const copy = join(WORK_DIR, `${scenario}-r${round}.db`);
  copyDurable(DRAIN.path, copy);
  const out = { round, mode };
  try {
    if (mode === 'trivial' && on('rss')) results.rssBaseline.push({ round, spool: 'drain', ...(await rssBaseline(`rss-bare-drain-r${round}`, copy)) });
    out.sidecar = await sidecarDrain(`${scenario}-sidecar-r${round}`, mode, copy, S.drainRows, S.drainRows);
  } finally {
    removeDb(copy);
  }
  out.bare = await bareDrain(`${scenario}-bare-r${round}`, mode, S.drainRows, DRAIN);
  results.drain.push(out);
}

// --- start

function httpStatus(port, path) {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(null));
    req.end();
  });
}

/** Spawns `args` and times until GET /readyz on `port` (the sidecar's admin listener) answers 200; then SIGTERM and wait for the exit. */
async function timeStart(name, args, port, env) {
  const t0 = performance.now();
  const proc = startProcess(process.execPath, args, name, env);
  let status = null;
  let attempts = 0;
  const until = t0 + 60_000;
  while (performance.now() < until && proc.exited === null) {
    attempts++;
    status = await httpStatus(port, '/readyz');
    if (status === 200) break;
    await sleep(5);
  }
  const readyMs = performance.now() - t0;
  const memory = procMem(proc.pid);
  const t1 = performance.now();
  const exited = await proc.exit(30_000);
  const stopMs = performance.now() - t1;
  if (status !== 200) fail(`${name}: /readyz never answered 200 (last ${status}, process ${JSON.stringify(proc.exited)}); see ${proc.logFile}`);
  else if (name.includes('sidecar') && exited.code !== 0) fail(`${name}: exited ${JSON.stringify(exited)} after SIGTERM; see ${proc.logFile}`);
  log(`${name}: ready after ${readyMs.toFixed(0)} ms (${attempts} polls), RSS ${memory?.rssMiB?.toFixed(0)} MiB, stopped in ${stopMs.toFixed(0)} ms`);
  return { readyMs, stopMs, rssMiB: memory?.rssMiB ?? null, hwmMiB: memory?.hwmMiB ?? null, exit: exited };
}

async function sidecarStart(name, spoolPath) {
  const port = await unusedPort();
  const adminPort = await unusedPort();
  const configFile = join(WORK_DIR, `${name}.json`);
  const closed = `https://127.0.0.1:${await unusedPort()}`;
  writeFileSync(
    configFile,
    JSON.stringify(
      {
        ingest: { host: '127.0.0.1', port },
        admin: { host: '127.0.0.1', port: adminPort },
        spool: { path: spoolPath, sync: 'full' },
        pcm: { apiUrl: closed, authUrl: closed, caFile: PKI.caCert },
        organisations: ORGS.map((o) => ({ ...o, certFile: PKI.clients[o.orgId].cert, keyFile: PKI.clients[o.orgId].key })),
        log: { level: 'warn' },
      },
      null,
      2,
    ),
  );
  // Only this config: no PCM_* variable of the calling shell leaks in.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PCM_')));
  try {
    return await timeStart(name, [join(BENCH_DIR, '..', 'dist', 'cli.js'), 'run', '--config', configFile], adminPort, env);
  } finally {
    rmSync(configFile, { force: true });
  }
}

async function bareStart(name) {
  const port = await unusedPort();
  const script = `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
  return timeStart(name, ['-e', script], port, process.env);
}

// --- backlog round: start on the backlog, RSS baseline, ingest and drain with it

async function backlogRound(round) {
  const copy = join(WORK_DIR, `backlog-r${round}.db`);
  const t = performance.now();
  if (round === S.rounds && !S.reuseBacklog) {
    // The last round may consume the prefilled spool itself: nothing needs it afterwards.
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(BACKLOG.path + suffix)) renameSync(BACKLOG.path + suffix, copy + suffix);
    log(`backlog-r${round}: the last round uses the prefilled spool itself (no copy)`);
  } else {
    await timed('backlog copy', async () => copyDurable(BACKLOG.path, copy));
    log(`backlog-r${round}: copied the ${BACKLOG.rows.toLocaleString('en-US')}-report spool in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  try {
    if (on('rss')) await timed('rss', async () => results.rssBaseline.push({ round, spool: 'backlog', ...(await rssBaseline(`rss-bare-backlog-r${round}`, copy)) }));
    if (on('start')) {
      await timed('start', async () => {
        const emptyPath = join(WORK_DIR, `start-empty-r${round}.db`);
        removeDb(emptyPath);
        const row = { round };
        // The cheap starts three times a round (their median is the round's figure); the backlog start once, as each
        // one leases and releases rows of the backlog.
        const three = async (fn) => {
          const samples = [];
          for (let i = 1; i <= 3; i++) samples.push(await fn(i));
          const m = (key) => med(samples.map((x) => x[key]));
          return { readyMs: m('readyMs'), rssMiB: m('rssMiB'), stopMs: m('stopMs'), samples };
        };
        row.bare = await three((i) => bareStart(`start-bare-r${round}-${i}`));
        row.empty = await three(async (i) => {
          removeDb(emptyPath);
          return sidecarStart(`start-sidecar-empty-r${round}-${i}`, emptyPath);
        });
        row.backlog = await sidecarStart(`start-sidecar-backlog-r${round}`, copy);
        removeDb(emptyPath);
        results.start.push(row);
      });
    }
    if (on('backlog')) {
      await timed('backlog', async () => {
        const out = { round };
        let total = BACKLOG.rows;
        const name = `backlog-ingest-array100-sidecar-r${round}`;
        out.ingest = await ingestArrayLoad(await nodeServer('sidecar', name, copy), name, { factory: bodyFactory(), before: BACKLOG.rows });
        if (out.ingest.spoolRowsAfter !== null && out.ingest.spoolRowsAfter !== undefined) total = out.ingest.spoolRowsAfter;
        out.drain = await sidecarDrain(`backlog-drain-sink-sidecar-r${round}`, 'trivial', copy, S.drainRows, total);
        results.backlog.push(out);
      });
    }
  } finally {
    removeDb(copy);
  }
}

async function stormScenario() {
  const seconds = quick ? 5 : 20;
  log(`storm: node bench/storm.js (${S.rounds} rounds × ${seconds} s) …`);
  const logFile = join(LOG_DIR, 'storm.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [join(BENCH_DIR, 'storm.js')], {
    stdio: ['ignore', 'pipe', fd],
    env: { ...process.env, BENCH_STORM_ROUNDS: String(S.rounds), BENCH_STORM_SECONDS: String(seconds), BENCH_STORM_CONNECTIONS: String(S.connections) },
  });
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  if (code !== 0) fail(`storm: bench/storm.js exited ${code}; see ${logFile}`);
  results.storm = { seconds, output: text.trim() };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');
const med = (values) => summary(values).median;
const cell = (values, digits = 0) => {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return '—';
  const s = summary(v);
  return v.length === 1 ? fmt(s.median, digits) : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
};
/** Median (min–max) of per-round ratios a/b: each round's pair was measured together. */
const ratioCell = (pairs) => {
  const v = pairs.map(([a, b]) => (b > 0 ? a / b : NaN)).filter(Number.isFinite);
  if (v.length === 0) return '—';
  const r = summary(v);
  return v.length === 1 ? `${fmt(r.median, 2)}×` : `${fmt(r.median, 2)}× (${fmt(r.min, 2)}–${fmt(r.max, 2)}×)`;
};
const ratioMedian = (pairs) => med(pairs.map(([a, b]) => (b > 0 ? a / b : NaN)));
const met = (ok) => (ok === null || ok === undefined || Number.isNaN(ok) ? '—' : ok ? 'yes' : 'no');
const reproduce = (name) => `\`--only=${name}\``;

function summaryTable() {
  const L = [
    '| scenario | measure | pcm-sidecar | baseline (same run) | ratio | goal | met? | reproduce |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const row = (...c) => L.push(`| ${c.join(' | ')} |`);
  const IS = results.ingestSingle;
  if (IS.length) {
    row('ingest-single', 'requests/s at peak', cell(IS.map((r) => r.sidecar.reqPerSec)), `bare node:http + JSON.parse: ${cell(IS.map((r) => r.bare.reqPerSec))}`, ratioCell(IS.map((r) => [r.sidecar.reqPerSec, r.bare.reqPerSec])), '≥ 0.9× bare', met(ratioMedian(IS.map((r) => [r.sidecar.reqPerSec, r.bare.reqPerSec])) >= 0.9), reproduce('ingest-single'));
    const isFb = IS.filter((r) => r.fluentBit);
    if (isFb.length) {
      row('ingest-single', 'requests/s at peak vs Fluent Bit', cell(isFb.map((r) => r.sidecar.reqPerSec)), `Fluent Bit (in_http → filesystem → out_http): ${cell(isFb.map((r) => r.fluentBit.reqPerSec))}; CPU-s / 1,000: ${cell(isFb.map((r) => r.fluentBit.cpuPer1000), 3)}`, ratioCell(isFb.map((r) => [r.sidecar.reqPerSec, r.fluentBit.reqPerSec])), '— (informational)', '—', `FLUENT_BIT=/path/to/fluent-bit ${reproduce('ingest-single')}`);
    }
    row('ingest-single', 'server CPU-s per 1,000 reports at peak', cell(IS.map((r) => r.sidecar.cpuPer1000), 3), `bare: ${cell(IS.map((r) => r.bare.cpuPer1000), 3)}`, ratioCell(IS.map((r) => [r.sidecar.cpuPer1000, r.bare.cpuPer1000])), '≤ 1.3× bare', met(ratioMedian(IS.map((r) => [r.sidecar.cpuPer1000, r.bare.cpuPer1000])) <= 1.3), reproduce('ingest-single'));
    row('ingest-single', 'p50 / p99 ms at peak', `${cell(IS.map((r) => r.sidecar.latencyP50))} / ${cell(IS.map((r) => r.sidecar.latencyP99))}`, `bare: ${cell(IS.map((r) => r.bare.latencyP50))} / ${cell(IS.map((r) => r.bare.latencyP99))}`, '—', '—', '—', reproduce('ingest-single'));
    row('ingest-single', `p99 ms at half of the sidecar's peak (${cell(IS.map((r) => r.halfRate))} req/s)`, `${cell(IS.map((r) => r.sidecarHalf.latencyP99))} (p50 ${cell(IS.map((r) => r.sidecarHalf.latencyP50))})`, `bare at the same rate: ${cell(IS.map((r) => r.bareHalf.latencyP99))} (p50 ${cell(IS.map((r) => r.bareHalf.latencyP50))})`, ratioCell(IS.map((r) => [r.sidecarHalf.latencyP99, r.bareHalf.latencyP99])), '< 10 ms', met(med(IS.map((r) => r.sidecarHalf.latencyP99)) < 10), reproduce('ingest-single'));
  }
  const IA = results.ingestArray;
  if (IA.length) {
    row('ingest-array100', 'reports/s at peak', cell(IA.map((r) => r.sidecar.peak.reportsPerSec)), `bare parse: ${cell(IA.map((r) => r.bare.peak.reportsPerSec))}`, ratioCell(IA.map((r) => [r.sidecar.peak.reportsPerSec, r.bare.peak.reportsPerSec])), '≥ 150,000 reports/s', met(med(IA.map((r) => r.sidecar.peak.reportsPerSec)) >= 150_000), reproduce('ingest-array100'));
    const fb = IA.filter((r) => r.fluentBit);
    if (fb.length) {
      row('ingest-array100', 'reports/s at peak vs Fluent Bit', cell(fb.map((r) => r.sidecar.peak.reportsPerSec)), `Fluent Bit (in_http → filesystem → out_http): ${cell(fb.map((r) => r.fluentBit.peak.reportsPerSec))}`, ratioCell(fb.map((r) => [r.sidecar.peak.reportsPerSec, r.fluentBit.peak.reportsPerSec])), '≥ 2× Fluent Bit', met(ratioMedian(fb.map((r) => [r.sidecar.peak.reportsPerSec, r.fluentBit.peak.reportsPerSec])) >= 2), reproduce('ingest-array100'));
    } else {
      row('ingest-array100', 'reports/s at peak vs Fluent Bit', cell(IA.map((r) => r.sidecar.peak.reportsPerSec)), 'not measured: FLUENT_BIT is not set', '—', '≥ 2× Fluent Bit', '—', `FLUENT_BIT=/path/to/fluent-bit ${reproduce('ingest-array100')}`);
    }
    row('ingest-array100', 'server CPU-s per 1,000 reports', cell(IA.map((r) => r.sidecar.peak.cpuPer1000), 3), `bare parse: ${cell(IA.map((r) => r.bare.peak.cpuPer1000), 3)}${fb.length ? `; Fluent Bit: ${cell(fb.map((r) => r.fluentBit.peak.cpuPer1000), 3)}` : ''}`, ratioCell(IA.map((r) => [r.sidecar.peak.cpuPer1000, r.bare.peak.cpuPer1000])), '—', '—', reproduce('ingest-array100'));
  }
  const PT = results.parseThreads;
  if (PT.length) {
    row('parse-threads', 'reports/s, 1,000-report bodies, 1 parse thread', cell(PT.map((r) => r.t1.reportsPerSec)), `no parse thread: ${cell(PT.map((r) => r.t0.reportsPerSec))}`, ratioCell(PT.map((r) => [r.t1.reportsPerSec, r.t0.reportsPerSec])), 'pays if > 1', met(ratioMedian(PT.map((r) => [r.t1.reportsPerSec, r.t0.reportsPerSec])) > 1), reproduce('parse-threads'));
    row('parse-threads', 'server CPU-s per 1,000 reports, 1 parse thread', cell(PT.map((r) => r.t1.cpuPer1000), 3), `no parse thread: ${cell(PT.map((r) => r.t0.cpuPer1000), 3)}`, ratioCell(PT.map((r) => [r.t1.cpuPer1000, r.t0.cpuPer1000])), '—', '—', reproduce('parse-threads'));
    row('parse-threads', 'peak RSS MiB, 1 parse thread', cell(PT.map((r) => r.t1.rss.peakMiB)), `no parse thread: ${cell(PT.map((r) => r.t0.rss.peakMiB))}`, ratioCell(PT.map((r) => [r.t1.rss.peakMiB, r.t0.rss.peakMiB])), '—', '—', reproduce('parse-threads'));
  }
  for (const [mode, scenario, goal] of [
    ['trivial', 'drain-sink', 300_000],
    ['emulator', 'drain-emulator', 100_000],
  ]) {
    const D = results.drain.filter((r) => r.mode === mode);
    if (!D.length) continue;
    const sinkName = mode === 'emulator' ? 'emulator' : 'sink';
    row(scenario, 'reports/s (spawn of the sidecar to the last answer)', `${cell(D.map((r) => r.sidecar.reportsPerSec))} (steady ${cell(D.map((r) => r.sidecar.steadyReportsPerSec))})`, `bare undici loop, same batches: ${cell(D.map((r) => r.bare.reportsPerSec))}`, ratioCell(D.map((r) => [r.sidecar.reportsPerSec, r.bare.reportsPerSec])), `≥ ${fmt(goal)} reports/s`, met(med(D.map((r) => r.sidecar.reportsPerSec)) >= goal), reproduce(scenario));
    row(scenario, `CPU-s per 1,000 reports: sender side / ${sinkName}`, `${cell(D.map((r) => r.sidecar.sidecarCpuPer1000), 3)} / ${cell(D.map((r) => r.sidecar.sinkCpuPer1000), 3)}`, `bare loop: ${cell(D.map((r) => r.bare.clientCpuPer1000), 3)} / ${cell(D.map((r) => r.bare.sinkCpuPer1000), 3)}`, ratioCell(D.map((r) => [r.sidecar.sidecarCpuPer1000, r.bare.clientCpuPer1000])), '—', '—', reproduce(scenario));
  }
  if (on('rss')) {
    const base = (spool) => results.rssBaseline.filter((r) => r.spool === spool).map((r) => r.peakMiB);
    const rssRow = (what, values, baseLabel, baseValues) => {
      if (!values.length) return;
      const b = med(baseValues);
      row('rss', `peak RSS MiB ${what}`, cell(values), `${baseLabel}: ${cell(baseValues)}`, Number.isFinite(b) ? `${fmt(med(values) / b, 2)}×` : '—', '< 150 MiB', met(med(values) < 150), reproduce('rss'));
    };
    rssRow('while ingesting (array100)', IA.map((r) => r.sidecar.rss.peakMiB), 'bare node:http parse, same load', IA.map((r) => r.bare.rss.peakMiB));
    rssRow('while ingesting (single)', IS.map((r) => r.sidecarRss.peakMiB), 'bare node:http parse, same load', IS.map((r) => r.bareRss.peakMiB));
    rssRow(`while draining ${fmt(S.drainRows)} → sink`, results.drain.filter((r) => r.mode === 'trivial').map((r) => r.sidecar.rss.peakMiB), 'bare node + better-sqlite3 reading the same spool', base('drain'));
    rssRow(`while draining ${fmt(S.drainRows)} → emulator`, results.drain.filter((r) => r.mode === 'emulator').map((r) => r.sidecar.rss.peakMiB), 'bare node + better-sqlite3 reading the drain spool', base('drain'));
    rssRow(`while ingesting with ${fmt(S.backlog)} pending`, results.backlog.map((r) => r.ingest.rss.peakMiB), 'bare node + better-sqlite3 reading the same spool', base('backlog'));
    rssRow(`while draining with ${fmt(S.backlog)} pending`, results.backlog.map((r) => r.drain.rss.peakMiB), 'bare node + better-sqlite3 reading the same spool', base('backlog'));
  }
  const ST = results.start;
  if (ST.length) {
    row('start', 'ms from spawn to /readyz 200, empty spool', cell(ST.map((r) => r.empty.readyMs)), `bare \`node -e\` HTTP server answering: ${cell(ST.map((r) => r.bare.readyMs))}`, ratioCell(ST.map((r) => [r.empty.readyMs, r.bare.readyMs])), '< 1 s', met(med(ST.map((r) => r.empty.readyMs)) < 1000), reproduce('start'));
    row('start', `ms from spawn to /readyz 200, ${fmt(S.backlog)} pending`, cell(ST.map((r) => r.backlog.readyMs)), `bare \`node -e\`: ${cell(ST.map((r) => r.bare.readyMs))}`, ratioCell(ST.map((r) => [r.backlog.readyMs, r.bare.readyMs])), '< 3 s', met(med(ST.map((r) => r.backlog.readyMs)) < 3000), reproduce('start'));
  }
  const BL = results.backlog;
  if (BL.length) {
    const pairsIngest = BL.map((b) => [b.ingest.peak.reportsPerSec, results.ingestArray.find((r) => r.round === b.round)?.sidecar.peak.reportsPerSec ?? NaN]);
    const pairsDrain = BL.map((b) => [b.drain.reportsPerSec, results.drain.find((r) => r.round === b.round && r.mode === 'trivial')?.sidecar.reportsPerSec ?? NaN]);
    const within = (pairs) => {
      const r = ratioMedian(pairs);
      return Number.isFinite(r) ? Math.abs(1 - r) <= 0.2 : null;
    };
    row('backlog', `ingest-array100 reports/s with ${fmt(S.backlog)} pending`, cell(BL.map((b) => b.ingest.peak.reportsPerSec)), `empty spool, same round: ${cell(pairsIngest.map((p) => p[1]))}`, ratioCell(pairsIngest), 'within 20 %', met(within(pairsIngest)), reproduce('backlog'));
    row('backlog', `drain → sink reports/s with ${fmt(S.backlog)} pending`, cell(BL.map((b) => b.drain.reportsPerSec)), `empty spool, same round: ${cell(pairsDrain.map((p) => p[1]))}`, ratioCell(pairsDrain), 'within 20 %', met(within(pairsDrain)), reproduce('backlog'));
  }
  const SQ = results.sqlite;
  if (SQ.length) {
    for (const txn of [100, 1000]) {
      row('sqlite', `bare append rows/s, transactions of ${txn}`, '—', cell(SQ.filter((r) => r.txnRows === txn).map((r) => r.rowsPerSec)), '—', '— (the spool\'s baseline)', '—', reproduce('sqlite'));
    }
  }
  return L.join('\n');
}

function ingestDetail(title, rows) {
  const L = [
    `| ${title} | requests/s | reports/s | p50 ms | p99 ms | server cores | server CPU-s / 1,000 reports | server event loop busy | peak RSS MiB | autocannon cores | other processes (cores) | non-2xx / errors / timeouts per round |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [label, list, rss] of rows) {
    if (!list.length) continue;
    L.push(
      `| ${label} | ${cell(list.map((r) => r.reqPerSec))} | ${cell(list.map((r) => r.reportsPerSec))} | ${cell(list.map((r) => r.latencyP50))} | ${cell(list.map((r) => r.latencyP99))} | ${cell(list.map((r) => r.serverCores), 2)} | ${cell(list.map((r) => r.cpuPer1000), 3)} | ${list[0].serverElu === null ? '—' : `${cell(list.map((r) => r.serverElu * 100))} %`} | ${rss ? cell(rss) : '—'} | ${cell(list.map((r) => r.loadGenCores), 2)} | ${cell(list.map((r) => r.otherCores), 2)} | ${list.map((r) => `${r.non2xx}/${r.errors}/${r.timeouts}`).join(', ')} |`,
    );
  }
  return L.join('\n');
}

function drainDetail() {
  const L = [
    '| drain | reports/s | steady reports/s | first answer ms | batches | sender-side CPU-s / 1,000 | sink CPU-s / 1,000 | sender event loop busy | peak RSS MiB | other processes (cores) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const add = (label, list) => {
    if (!list.length) return;
    L.push(
      `| ${label} | ${cell(list.map((r) => r.reportsPerSec))} | ${cell(list.map((r) => r.steadyReportsPerSec))} | ${cell(list.map((r) => r.firstBatchMs))} | ${cell(list.map((r) => r.batches))} | ${cell(list.map((r) => r.sidecarCpuPer1000), 3)} | ${cell(list.map((r) => r.sinkCpuPer1000), 3)} | ${cell(list.map((r) => r.sidecarElu * 100))} % | ${cell(list.map((r) => r.rss.peakMiB))} | ${cell(list.map((r) => r.otherCores), 2)} |`,
    );
  };
  const addBare = (label, list) => {
    if (!list.length) return;
    L.push(
      `| ${label} | ${cell(list.map((r) => r.reportsPerSec))} | — | — | ${cell(list.map((r) => r.requests))} | ${cell(list.map((r) => r.clientCpuPer1000), 3)} | ${cell(list.map((r) => r.sinkCpuPer1000), 3)} | ${cell(list.map((r) => r.clientElu * 100))} % | — | ${cell(list.map((r) => r.otherCores), 2)} |`,
    );
  };
  for (const [mode, label] of [
    ['trivial', 'trivial HTTPS sink'],
    ['emulator', 'PcmEmulator'],
  ]) {
    const D = results.drain.filter((r) => r.mode === mode);
    addBare(`bare undici loop → ${label} (baseline)`, D.map((r) => r.bare));
    add(`pcm-sidecar → ${label}`, D.map((r) => r.sidecar));
  }
  add(`pcm-sidecar → trivial HTTPS sink, ${fmt(S.backlog)} pending`, results.backlog.map((r) => r.drain));
  return L.join('\n');
}

function startDetail() {
  const L = ['| process (bare and empty: median of 3 starts per round) | ms to /readyz 200 | RSS MiB when ready | ms to exit after SIGTERM |', '|---|---|---|---|'];
  for (const [key, label] of [
    ['bare', 'bare `node -e` http server (baseline)'],
    ['empty', '`pcm-sidecar run`, empty spool'],
    ['backlog', `\`pcm-sidecar run\`, ${fmt(S.backlog)} pending`],
  ]) {
    L.push(`| ${label} | ${cell(results.start.map((r) => r[key].readyMs))} | ${cell(results.start.map((r) => r[key].rssMiB))} | ${cell(results.start.map((r) => r[key].stopMs))} |`);
  }
  return L.join('\n');
}

function markdown(facts, totalSeconds) {
  const sample = bodyFactory();
  const singleBytes = (Buffer.byteLength(sample.single()) + Buffer.byteLength(sample.single())) / 2;
  const arrayKiB = Buffer.byteLength(sample.pairs(50)) / 1024;
  const parts = [
    `## Run ${new Date().toISOString()}`,
    [
      `- **Command:** \`${command}\` (scenarios: ${[...selected].join(', ')}${pulled.length ? `; pulled in: ${pulled.join(', ')}` : ''}). Total ${fmt(totalSeconds)} s (${Object.entries(timings)
        .map(([k, v]) => `${k} ${fmt(v)} s`)
        .join(', ')}).`,
      `- **Machine:** nproc ${facts.nproc}, ${facts.cpuModel}, Node ${facts.node}, ${facts.kernel}, ${fmt(facts.memMiB)} MiB RAM, bench/.work on ${facts.workDirFs}.`,
      `- **Code:** commit ${facts.commit}${facts.srcModified ? ' with uncommitted changes in src/' : ''}, dist/ built ${new Date(facts.builtAt).toISOString()}.`,
      `- **Settings:** ${S.rounds} round${S.rounds > 1 ? 's' : ''}; loads of ${S.warmup} s warm-up + ${S.duration} s measured (half-rate: ${S.halfDuration} s), ${S.connections} connections, autocannon in the parent process, each server in its own child; drains of ${fmt(S.drainRows)} reports; backlog ${fmt(S.backlog)} reports.`,
      `- **Cells:** median (min–max) over the rounds; ratios are the median (min–max) of each round's own ratio (sidecar and baseline measured one after the other in that round). CPU from /proc/<pid>/stat; RSS peak = /proc/<pid>/status VmHWM (≥ VmRSS sampled every 20 ms).`,
    ].join('\n'),
  ];
  const prefillLines = Object.entries(results.prefill).map(
    ([kind, p]) =>
      `- Prefill of the ${kind} spool: ${fmt(p.rows)} reports (avg ${fmt(p.avgReportBytes)} B) through \`Spool.write\`, ${S.prefillPerWrite} per call, sync=normal: ${p.reused ? `reused from an earlier run (--reuse-backlog; it took ${fmt(p.wallMs / 1000, 1)} s then)` : `${fmt(p.wallMs / 1000, 1)} s, ${fmt(p.rowsPerSec)} reports/s`}, file ${fmt(p.fileMiB)} MiB.`,
  );
  parts.push(`### Summary (the goal table)\n\n${summaryTable()}`);
  const noteLines = [
    ...prefillLines,
    ...(results.ingestSingle.length || results.ingestArray.length
      ? [`- Ingest: single bodies ~${fmt(singleBytes)} B (CLIENT and SERVER alternately), array bodies 50 CLIENT/SERVER pairs ~${fmt(arrayKiB)} KiB; every report has a fresh fapiInteractionId. The sidecar runs with sync=full and its sender pointed at a closed loopback port, so only ingest is measured.`]
      : []),
    ...(results.drain.length || results.backlog.length
      ? [
          `- Drain: the sidecar (startSidecar in a child, default sender settings: ${S.batchSize} reports per batch, ${S.batchesInFlight} batches in flight per organisation, 2 organisations) on a copy of the prefilled spool, sync=full. Its rate runs from startSidecar() to the last answer counted (start-up included); "steady" from its first answer. The bare loop posts byte-identical batches (same generator, same ids) with the same number in flight, tokens fetched before its clock starts.`,
        ]
      : []),
    ...(results.drain.some((r) => r.mode === 'emulator')
      ? ["- Emulator: `PcmEmulator` (what `pcm-sidecar emulate` runs) with its state in memory — SQLite `:memory:`, its default without `--state FILE` — rate limit and reconciliation off, keeping every report of the run; it validates every report."]
      : []),
    ...(on('ingest-array100') && !S.fluentBit ? ['- Fluent Bit: not measured — set FLUENT_BIT=/path/to/fluent-bit to add it (in_http → filesystem storage → out_http to a loopback sink; the config is generated under bench/.work/fluent-bit/).'] : []),
    ...(S.fluentBit && results.ingestArray.some((r) => r.fluentBit)
      ? [`- Fluent Bit: ${S.fluentBit}, in_http → storage.type filesystem (storage.sync full) → out_http (format json) to a plain-HTTP loopback sink; it answers 201 when it has taken a body, which is not the same durability point as the sidecar's answer after its commit. Records at its sink within 15 s of the load (acknowledged in brackets; bodies autocannon dropped in flight may still arrive): ${results.ingestArray.filter((r) => r.fluentBit).map((r) => `${fmt(r.fluentBit.delivered)} (${fmt(r.fluentBit.deliveredOf)})`).join(', ')}.`]
      : []),
    ...(quick ? ['- **--quick**: one short round on small data; the "met?" column is only indicative.'] : []),
    ...notes.map((n) => `- ${n}`),
  ];
  if (noteLines.length) parts.push(`Notes:\n\n${noteLines.join('\n')}`);

  const IS = results.ingestSingle;
  if (IS.length) {
    parts.push(
      `### ingest-single (\`--only=ingest-single\`)`,
      ingestDetail('server', [
        ['bare node:http + JSON.parse (baseline), peak', IS.map((r) => r.bare), IS.map((r) => r.bareRss.peakMiB)],
        ['pcm-sidecar, sync=full, peak', IS.map((r) => r.sidecar), IS.map((r) => r.sidecarRss.peakMiB)],
        ['bare, fixed rate = half the sidecar\'s peak', IS.map((r) => r.bareHalf)],
        ['pcm-sidecar, fixed rate = half its peak', IS.map((r) => r.sidecarHalf)],
      ]),
    );
  }
  const IA = results.ingestArray;
  if (IA.length) {
    const rowsA = [
      ['bare node:http + JSON.parse (baseline)', IA.map((r) => r.bare.peak), IA.map((r) => r.bare.rss.peakMiB)],
      ['pcm-sidecar, sync=full, empty spool', IA.map((r) => r.sidecar.peak), IA.map((r) => r.sidecar.rss.peakMiB)],
    ];
    const fb = IA.filter((r) => r.fluentBit);
    if (fb.length) rowsA.push(['Fluent Bit in_http → filesystem → out_http', fb.map((r) => r.fluentBit.peak), fb.map((r) => r.fluentBit.rss.peakMiB)]);
    if (results.backlog.length) rowsA.push([`pcm-sidecar, sync=full, ${fmt(S.backlog)} pending`, results.backlog.map((r) => r.ingest.peak), results.backlog.map((r) => r.ingest.rss.peakMiB)]);
    parts.push(`### ingest-array100 (\`--only=ingest-array100\`)`, ingestDetail('server', rowsA));
  }
  if (results.drain.length || results.backlog.length) parts.push(`### drain (\`--only=drain-sink,drain-emulator\`), ${fmt(S.drainRows)} reports per drain`, drainDetail());
  if (results.start.length) parts.push('### start (`--only=start`)', startDetail());
  if (results.rssBaseline.length) {
    parts.push(
      '### rss baselines (`--only=rss`)',
      ['| bare node + better-sqlite3 reading every row of | rows | data MiB | peak RSS MiB |', '|---|---|---|---|', ...['drain', 'backlog'].filter((s) => results.rssBaseline.some((r) => r.spool === s)).map((s) => {
        const list = results.rssBaseline.filter((r) => r.spool === s);
        return `| the ${s} spool | ${cell(list.map((r) => r.rows))} | ${cell(list.map((r) => r.dataMiB))} | ${cell(list.map((r) => r.peakMiB))} |`;
      })].join('\n'),
    );
  }
  if (results.sqlite.length) {
    parts.push(
      '### sqlite (`--only=sqlite`)',
      ['| bare better-sqlite3 append, WAL, synchronous=FULL | rows/s | row bytes |', '|---|---|---|', ...[100, 1000].map((t) => {
        const list = results.sqlite.filter((r) => r.txnRows === t);
        return `| ${fmt(S.sqliteRows)} rows in transactions of ${t} | ${cell(list.map((r) => r.rowsPerSec))} | ${cell(list.map((r) => r.avgRowBytes))} |`;
      })].join('\n'),
    );
  }
  if (results.storm) parts.push(`### storm (\`--only=storm\`: bench/storm.js, ${S.rounds} rounds × ${results.storm.seconds} s)`, results.storm.output);
  parts.push(
    failures.length
      ? `### Checks that failed (this run is wrong somewhere)\n\n${failures.map((x) => `- ${x}`).join('\n')}`
      : 'All checks of the scenarios run passed: no non-2xx answers, no connection errors or timeouts, no duplicates; every acknowledged report stored and none invented; every drained report answered and received by the sink exactly once, spool counts matching; no sender retries.',
  );
  if (warnings.length) parts.push(`### Warnings\n\n${warnings.map((x) => `- ${x}`).join('\n')}`);
  return `${parts.join('\n\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const startedAt = performance.now();
  ensureDirs();
  for (const f of readdirSync(LOG_DIR)) rmSync(join(LOG_DIR, f), { force: true, recursive: true });
  const facts = machine();
  const version = sourceVersion();
  const builtAt = distStamp();
  log(`command: ${command}`);
  log(`scenarios: ${[...selected].join(', ')}${pulled.length ? ` (pulled in: ${pulled.join(', ')})` : ''}`);
  log(`machine: ${JSON.stringify(facts)}`);
  log(`settings: ${JSON.stringify(S)}`);
  if (on('ingest-array100') && !S.fluentBit) log('FLUENT_BIT is not set: ingest-array100 runs without the Fluent Bit comparison');
  PKI = await benchPki();

  if (on('drain-sink') || on('drain-emulator')) await prepareDrainSpool();
  if (on('start') || on('backlog') || on('rss')) await prepareBacklogSpool();

  for (let round = 1; round <= S.rounds; round++) {
    log(`--- round ${round}/${S.rounds}`);
    if (on('sqlite')) await timed('sqlite', () => sqliteRound(round));
    if (on('ingest-single')) await timed('ingest-single', () => ingestSingleRound(round));
    if (on('ingest-array100')) await timed('ingest-array100', () => ingestArrayRound(round));
    if (on('parse-threads')) await timed('parse-threads', () => parseThreadsRound(round));
    if (on('drain-sink')) await timed('drain-sink', () => drainRound(round, 'trivial'));
    if (on('drain-emulator')) await timed('drain-emulator', () => drainRound(round, 'emulator'));
    if (on('start') || on('backlog') || on('rss')) await backlogRound(round);
  }
  if (on('storm')) await timed('storm', () => stormScenario());

  if (DRAIN) removeDb(DRAIN.path);
  if (BACKLOG && !S.reuseBacklog) removeDb(BACKLOG.path);
  rmSync(join(WORK_DIR, 'fluent-bit'), { recursive: true, force: true });
  const totalSeconds = (performance.now() - startedAt) / 1000;
  if (distStamp() !== builtAt) fail('dist/ was rebuilt while the benchmark ran: later rounds measured different code');
  const md = markdown({ ...facts, ...version, builtAt }, totalSeconds);
  writeFileSync(
    join(WORK_DIR, 'last-run.json'),
    JSON.stringify({ command, scenarios: [...selected], settings: S, machine: facts, version, results, timings, failures, warnings, notes, totalSeconds }, null, 2),
  );
  writeFileSync(join(WORK_DIR, 'last-run.md'), md);
  process.stdout.write(`${md}\n`);
  log(`done in ${totalSeconds.toFixed(0)} s; tables in bench/.work/last-run.md, raw numbers in bench/.work/last-run.json`);
  if (failures.length) process.exitCode = 2;
}

main().catch((err) => {
  log(`FAILED: ${err?.stack ?? err}`);
  process.exit(1);
});
