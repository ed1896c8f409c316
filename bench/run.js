#!/usr/bin/env node
// pcm-sidecar benchmark: ingest (single reports, 100-report arrays) and drain (spool → loopback PCM), each beside a
// baseline measured in the same round. Run after `npm run build`:
//
//   node bench/run.js            # full run (3 rounds; about 4–5 minutes on 2 cores)
//   node bench/run.js --quick    # smoke test (1 round, short loads, 10,000-row drain)
//
// Settings (environment): BENCH_RUNS (3), BENCH_DURATION (8 s per measured load), BENCH_WARMUP (1 s),
// BENCH_CONNECTIONS (50), BENCH_DRAIN_ROWS (100000), BENCH_NORMAL=0 to skip the sync=normal rows,
// BENCH_ONLY=ingest-single,ingest-array100,drain (a subset), BENCH_PROF=1 (V8 CPU profiles of the children).
// Everything listens on 127.0.0.1 only. Servers under load run in child processes (bench/ingest-server.js,
// bench/sink-server.js, bench/drain-child.js, bench/sqlite-child.js); autocannon runs in this process.
// Raw numbers: bench/.work/last-run.json; tables: bench/.work/last-run.md (also printed). Logs: bench/.work/logs/.
import autocannon from 'autocannon';
import { copyFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchPki, bodyFactory, distStamp, ensureDirs, LOG_DIR, machine, otherCores, sourceVersion, startChild, summary, systemCpu, unusedPort, WORK_DIR } from './lib.js';

const quick = process.argv.includes('--quick');
const env = (name, fallback) => (process.env[name] !== undefined ? Number(process.env[name]) : fallback);
const S = {
  runs: env('BENCH_RUNS', quick ? 1 : 3),
  duration: env('BENCH_DURATION', quick ? 2 : 8),
  warmup: env('BENCH_WARMUP', 1),
  connections: env('BENCH_CONNECTIONS', 50),
  drainRows: env('BENCH_DRAIN_ROWS', quick ? 10_000 : 100_000),
  normal: env('BENCH_NORMAL', 1) !== 0,
  only: (process.env.BENCH_ONLY ?? 'ingest-single,ingest-array100,drain').split(',').map((x) => x.trim()),
  /** Hard caps so every load loop is bounded in count as well as time. */
  maxRequestsSingle: 2_000_000,
  maxRequestsArray: 200_000,
  drainTimeoutMs: 120_000,
  txnRows: 100,
  /** Above this, something outside the benchmark competed for the CPU during a measurement (flagged). */
  otherCoresLimit: 0.3,
};
if (S.drainRows % 2 !== 0) S.drainRows += 1;

const log = (...args) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${args.join(' ')}\n`);
const suspicious = [];
const flag = (msg) => {
  suspicious.push(msg);
  log(`SUSPICIOUS: ${msg}`);
};

function removeDb(path) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Ingest

function load(url, makeBody, seconds, maxRequests, tally) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections: S.connections,
        pipelining: 1,
        duration: seconds,
        maxOverallRequests: maxRequests,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: '/v1/reports',
            headers: { 'content-type': 'application/json' },
            setupRequest(req) {
              tally.bodies++;
              req.body = makeBody();
              return req;
            },
            onResponse(status, body) {
              if (status !== 202) {
                tally.other[status] = (tally.other[status] ?? 0) + 1;
                if (tally.samples.length < 3) tally.samples.push(`${status} ${String(body).slice(0, 300)}`);
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

async function ingestCase(round, bench, target, sync) {
  const label = target === 'bare' ? 'bare node:http + JSON.parse (baseline)' : `sidecar, spool sync=${sync}`;
  const name = `${bench}-${target}${target === 'sidecar' ? `-${sync}` : ''}-r${round}`;
  const spoolPath = join(WORK_DIR, `${name}.db`);
  removeDb(spoolPath);
  const pki = await benchPki();
  const server = await startChild(
    'ingest-server.js',
    // The sender points at a loopback port nothing listens on: only ingest is measured (see RESULTS.md).
    { mode: target, spoolPath, sync, pki, pcmUrl: `https://127.0.0.1:${await unusedPort()}`, logLevel: 'error' },
    name,
  );
  const factory = bodyFactory();
  const reportsPerBody = bench === 'ingest-single' ? 1 : 100;
  const makeBody = reportsPerBody === 1 ? () => factory.single() : () => factory.pairs(50);
  const cap = reportsPerBody === 1 ? S.maxRequestsSingle : S.maxRequestsArray;
  const tally = { bodies: 0, accepted: 0, duplicates: 0, unparsed: 0, other: {}, samples: [] };
  let result;
  let stopped;
  let window;
  try {
    if (S.warmup > 0) await load(server.ready.url, makeBody, S.warmup, cap, tally);
    await server.request({ cmd: 'mark' }, 'marked', 10_000);
    const measured = { bodies: 0, accepted: 0, duplicates: 0, unparsed: 0, other: {}, samples: [] };
    const sysBefore = systemCpu();
    const ownBefore = process.cpuUsage();
    const wallBefore = performance.now();
    result = await load(server.ready.url, makeBody, S.duration, cap, measured);
    window = { sysBefore, own: process.cpuUsage(ownBefore), sysAfter: systemCpu(), wall: (performance.now() - wallBefore) / 1000 };
    for (const k of ['bodies', 'accepted', 'duplicates', 'unparsed']) tally[k] += measured[k];
    for (const [status, n] of Object.entries(measured.other)) tally.other[status] = (tally.other[status] ?? 0) + n;
    tally.samples.push(...measured.samples);
    stopped = await server.request({ cmd: 'stop' }, 'stopped', 30_000);
  } finally {
    await server.exit(10_000); // SIGKILL only if it has not exited by then
  }
  removeDb(spoolPath);

  const ok = result.statusCodeStats?.['202']?.count ?? 0;
  const seconds = result.duration;
  const row = {
    round,
    bench,
    target,
    sync: target === 'sidecar' ? sync : null,
    label,
    reqPerSec: ok / seconds,
    reportsPerSec: (ok * reportsPerBody) / seconds,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyP90: result.latency.p90,
    latencyP97_5: result.latency.p97_5,
    latencyMax: result.latency.max,
    completed: result.totalCompletedRequests,
    ok202: ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds,
    tally,
    serverCpuMs: stopped ? stopped.cpuUserMs + stopped.cpuSystemMs : null,
    serverCpuShare: stopped ? (stopped.cpuUserMs + stopped.cpuSystemMs) / 1000 / seconds : null,
    serverElu: stopped?.eventLoopUtilization ?? null,
    loadGenCpuShare: (window.own.user + window.own.system) / 1e6 / window.wall,
    // CPU used by anything but autocannon (this process) and the server while it measured; includes the kernel's
    // loopback and disk work done on their behalf, so it is never quite 0.
    otherCores: otherCores(
      window.sysBefore,
      window.sysAfter,
      (window.own.user + window.own.system) / 1e6 + (stopped ? (stopped.cpuUserMs + stopped.cpuSystemMs) / 1000 : 0),
      window.wall,
    ),
    steal: window.sysAfter && window.sysBefore ? (window.sysAfter.steal - window.sysBefore.steal) / window.wall : null,
    serverRssMiB: stopped?.rssMiB ?? null,
    spool: stopped?.counts ?? null,
  };
  // Checks: every 2xx answered "accepted" for every report, nothing lost, nothing refused.
  if (result.non2xx > 0 || Object.keys(tally.other).length > 0) flag(`${name}: non-202 answers ${JSON.stringify(tally.other)} e.g. ${tally.samples.join(' | ')}`);
  if (result.errors > 0 || result.timeouts > 0) flag(`${name}: ${result.errors} connection errors, ${result.timeouts} timeouts`);
  if (tally.duplicates > 0) flag(`${name}: ${tally.duplicates} reports answered as duplicates (every body is unique)`);
  if (tally.unparsed > 0) flag(`${name}: ${tally.unparsed} 202 answers that are not JSON`);
  if (target === 'sidecar' && stopped) {
    const c = stopped.counts;
    const rows = c.pending + c.inflight + c.accepted + c.discarded;
    row.spoolRows = rows;
    // autocannon drops requests in flight when its time is up (after the warm-up and after the measured load); the
    // server may still commit them, so rows can exceed the acknowledged count by up to `connections` bodies per load,
    // but never fall below it.
    const loads = S.warmup > 0 ? 2 : 1;
    if (rows < tally.accepted) flag(`${name}: spool holds ${rows} rows but ${tally.accepted} reports were acknowledged as accepted (lost rows)`);
    if (rows > tally.accepted + loads * S.connections * reportsPerBody) flag(`${name}: spool holds ${rows} rows, more than acknowledged ${tally.accepted} + in flight`);
    if (rows > tally.bodies * reportsPerBody) flag(`${name}: spool holds ${rows} rows, more than the ${tally.bodies * reportsPerBody} reports generated`);
    if (c.quarantined > 0) flag(`${name}: ${c.quarantined} items quarantined`);
  }
  if (row.otherCores > S.otherCoresLimit) flag(`${name}: other processes used ${row.otherCores.toFixed(2)} cores while it measured; this round is disturbed`);
  log(
    `${name}: ${row.reqPerSec.toFixed(0)} req/s, ${row.reportsPerSec.toFixed(0)} reports/s, p50 ${row.latencyP50} ms, p99 ${row.latencyP99} ms,`,
    `non2xx ${row.non2xx}, errors ${row.errors}${row.spoolRows !== undefined ? `, spool rows ${row.spoolRows} (acked ${tally.accepted})` : ''}`,
  );
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// Drain and its SQLite baselines

async function sqliteJob(options, name) {
  const child = await startChild('sqlite-child.js', options, name);
  try {
    return await child.waitFor('done', 120_000);
  } finally {
    await child.exit(5_000);
  }
}

async function drainCase(round, template, sinkMode) {
  const name = `drain-${sinkMode}-r${round}`;
  const spoolPath = join(WORK_DIR, `${name}.db`);
  removeDb(spoolPath);
  copyFileSync(template, spoolPath);
  const pki = await benchPki();
  const sink = await startChild('sink-server.js', { mode: sinkMode, pki }, `sink-${sinkMode}-r${round}`);
  let done;
  let sinkStats;
  let window;
  try {
    const sinkBefore = await sink.request({ cmd: 'stats' }, 'stats', 10_000);
    const sysBefore = systemCpu();
    const ownBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const drain = await startChild(
      'drain-child.js',
      { spoolPath, pki, pcmUrl: sink.ready.url, authUrl: sink.ready.authUrl, expected: S.drainRows, timeoutMs: S.drainTimeoutMs, logLevel: 'warn' },
      name,
    );
    try {
      done = await drain.waitFor('done', S.drainTimeoutMs + 30_000);
    } finally {
      await drain.exit(10_000);
    }
    sinkStats = await sink.request({ cmd: 'stats' }, 'stats', 10_000);
    const own = process.cpuUsage(ownBefore);
    const sinkCpu = sinkStats.cpuUserMs + sinkStats.cpuSystemMs - sinkBefore.cpuUserMs - sinkBefore.cpuSystemMs;
    window = {
      wall: (performance.now() - wallBefore) / 1000,
      sysBefore,
      sysAfter: systemCpu(),
      ownSeconds: (own.user + own.system) / 1e6 + done.processCpuMs / 1000 + sinkCpu / 1000,
      sinkCpuMs: sinkCpu,
    };
    await sink.request({ cmd: 'stop' }, 'stopped', 10_000).catch(() => {});
  } finally {
    await sink.exit(5_000); // SIGKILL only if it has not exited by then
  }
  removeDb(spoolPath);

  const label = sinkMode === 'emulator' ? 'sidecar drain → PcmEmulator (validates every item)' : 'sidecar drain → trivial HTTPS sink (no validation)';
  const c = done.counts;
  if (done.timedOut) flag(`${name}: only ${done.answered}/${S.drainRows} rows answered within ${S.drainTimeoutMs} ms`);
  if (c.accepted !== S.drainRows || c.pending + c.inflight + c.discarded !== 0) flag(`${name}: spool counts after drain ${JSON.stringify(c)}`);
  const lanesLastError = done.lanes.map((l) => l.lastError).filter(Boolean);
  const retries = done.lanes.reduce((n, l) => n + l.retries, 0);
  if (retries > 0) flag(`${name}: sender retried ${retries} times; last errors ${JSON.stringify(lanesLastError)}`);
  const received = sinkMode === 'emulator' ? (sinkStats.stats.reports.ACCEPTED ?? 0) + (sinkStats.stats.reports.DISCARDED ?? 0) : sinkStats.stats.items;
  if (received !== S.drainRows) flag(`${name}: the sink received ${received} items for ${S.drainRows} rows`);
  if (sinkMode === 'emulator' && sinkStats.stats.duplicatesReceived > 0) flag(`${name}: emulator saw ${sinkStats.stats.duplicatesReceived} duplicates`);
  if (sinkMode === 'emulator' && (sinkStats.stats.reports.DISCARDED ?? 0) > 0) flag(`${name}: emulator discarded ${sinkStats.stats.reports.DISCARDED} reports`);
  const batches = done.lanes.reduce((n, l) => n + l.batchesSent, 0);
  const row = {
    round,
    sink: sinkMode,
    label,
    rowsPerSec: done.rowsPerSec,
    elapsedMs: done.elapsedMs,
    firstBatchMs: done.firstBatchMs,
    batches,
    retries,
    counts: c,
    progress: done.progress,
    sidecarCpuMs: done.cpuUserMs + done.cpuSystemMs,
    sidecarElu: done.eventLoopUtilization,
    sinkCpuMs: window.sinkCpuMs,
    sidecarRssMiB: done.rssMiB,
    otherCores: otherCores(window.sysBefore, window.sysAfter, window.ownSeconds, window.wall),
    sinkStats: sinkStats.stats,
  };
  if (row.otherCores > S.otherCoresLimit) flag(`${name}: other processes used ${row.otherCores.toFixed(2)} cores while it measured; this round is disturbed`);
  log(`${name}: ${row.rowsPerSec.toFixed(0)} rows/s (${(row.elapsedMs / 1000).toFixed(2)} s, ${batches} batches, first answer at ${Math.round(done.firstBatchMs)} ms)`);
  return row;
}

async function drainRound(round) {
  const template = join(WORK_DIR, `drain-template-r${round}.db`);
  const prefill = await sqliteJob(
    { mode: 'prefill', path: template, pairs: S.drainRows / 2, chunk: S.txnRows, sync: 'full' },
    `prefill-r${round}`,
  );
  if (prefill.stored !== S.drainRows) flag(`prefill-r${round}: Spool.write stored ${prefill.stored} of ${S.drainRows}`);
  log(`prefill-r${round}: Spool.write ${prefill.rowsPerSec.toFixed(0)} rows/s in transactions of ${S.txnRows} (avg report ${prefill.avgReportBytes.toFixed(0)} B)`);
  const bare = await sqliteJob({ mode: 'bare', source: template, path: join(WORK_DIR, `bare-r${round}.db`), chunk: S.txnRows }, `bare-r${round}`);
  log(`bare-r${round}: ${bare.rowsPerSec.toFixed(0)} rows/s`);
  const bareSpool = await sqliteJob(
    { mode: 'bare', schema: 'spool', source: template, path: join(WORK_DIR, `bare-spool-r${round}.db`), chunk: S.txnRows },
    `bare-spool-schema-r${round}`,
  );
  log(`bare-spool-schema-r${round}: ${bareSpool.rowsPerSec.toFixed(0)} rows/s`);
  for (const r of [bare, bareSpool]) if (r.stored !== S.drainRows) flag(`bare insert stored ${r.stored} of ${S.drainRows}`);
  const emulator = await drainCase(round, template, 'emulator');
  const trivial = await drainCase(round, template, 'trivial');
  removeDb(template);
  return { round, prefill, bare, bareSpool, emulator, trivial };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—';
const cell = (values, digits = 0) => {
  const s = summary(values);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
};

function ingestTable(rows, bench) {
  const groups = [];
  for (const r of rows.filter((x) => x.bench === bench)) {
    let g = groups.find((x) => x.label === r.label);
    if (!g) groups.push((g = { label: r.label, target: r.target, rows: [] }));
    g.rows.push(r);
  }
  const base = groups.find((g) => g.target === 'bare');
  const baseMedian = summary(base?.rows.map((r) => r.reqPerSec) ?? []).median;
  const lines = [
    '| server | requests/s | reports/s | vs baseline | p50 ms | p99 ms | server CPU (cores) | server event loop busy | autocannon CPU (cores) | other processes (cores) | non-2xx / errors / timeouts per run |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const g of groups) {
    const m = summary(g.rows.map((r) => r.reqPerSec)).median;
    lines.push(
      `| ${g.label} | ${cell(g.rows.map((r) => r.reqPerSec))} | ${cell(g.rows.map((r) => r.reportsPerSec))} | ${
        g.target === 'bare' ? '1.00×' : `${fmt(m / baseMedian, 2)}×`
      } | ${cell(g.rows.map((r) => r.latencyP50))} | ${cell(g.rows.map((r) => r.latencyP99))} | ${cell(
        g.rows.map((r) => r.serverCpuShare),
        2,
      )} | ${cell(g.rows.map((r) => r.serverElu * 100))} % | ${cell(g.rows.map((r) => r.loadGenCpuShare), 2)} | ${cell(
        g.rows.map((r) => r.otherCores),
        2,
      )} | ${g.rows.map((r) => `${r.non2xx}/${r.errors}/${r.timeouts}`).join(', ')} |`,
    );
  }
  return lines.join('\n');
}

function drainTable(rounds) {
  const base = summary(rounds.map((r) => r.bare.rowsPerSec)).median;
  const line = (label, values, extra = '') => {
    const m = summary(values).median;
    return `| ${label} | ${cell(values)} | ${fmt(m / base, 2)}× | ${extra} |`;
  };
  return [
    '| what | rows/s | vs baseline | notes |',
    '|---|---|---|---|',
    line(`bare better-sqlite3 INSERT, transactions of ${S.txnRows}, WAL + synchronous=FULL (baseline)`, rounds.map((r) => r.bare.rowsPerSec), 'table (id, org_id, dedup_key UNIQUE, body)'),
    line(`bare better-sqlite3 INSERT with the spool's DDL and INSERT, transactions of ${S.txnRows}`, rounds.map((r) => r.bareSpool.rowsPerSec), 'the spool table: its columns and secondary indexes'),
    line(`Spool.write(), ${S.txnRows} reports per call, one call at a time (prefill)`, rounds.map((r) => r.prefill.rowsPerSec), 'group commit + promise per call'),
    line(
      'sidecar drain → PcmEmulator (validates every item)',
      rounds.map((r) => r.emulator.rowsPerSec),
      `${cell(rounds.map((r) => r.emulator.elapsedMs / 1000), 2)} s for ${fmt(S.drainRows)} rows; first answer after ${cell(rounds.map((r) => r.emulator.firstBatchMs))} ms; ${rounds[0].emulator.batches} batches`,
    ),
    line(
      'sidecar drain → trivial HTTPS sink (no validation)',
      rounds.map((r) => r.trivial.rowsPerSec),
      `${cell(rounds.map((r) => r.trivial.elapsedMs / 1000), 2)} s for ${fmt(S.drainRows)} rows; first answer after ${cell(rounds.map((r) => r.trivial.firstBatchMs))} ms; ${rounds[0].trivial.batches} batches`,
    ),
  ].join('\n');
}

function cpuTable(rounds) {
  const lines = ['| drain to | sidecar CPU s | sidecar event loop busy | sink CPU s | other processes (cores) | wall s |', '|---|---|---|---|---|---|'];
  for (const sink of ['emulator', 'trivial']) {
    lines.push(
      `| ${sink} | ${cell(rounds.map((r) => r[sink].sidecarCpuMs / 1000), 2)} | ${cell(rounds.map((r) => r[sink].sidecarElu * 100))} % | ${cell(
        rounds.map((r) => r[sink].sinkCpuMs / 1000),
        2,
      )} | ${cell(rounds.map((r) => r[sink].otherCores), 2)} | ${cell(rounds.map((r) => r[sink].elapsedMs / 1000), 2)} |`,
    );
  }
  return lines.join('\n');
}

function markdown(facts, ingestRows, drainRounds, totalSeconds) {
  const sample = bodyFactory();
  const arrayKiB = Buffer.byteLength(sample.pairs(50)) / 1024;
  const singleBytes = Buffer.byteLength(sample.single()) + Buffer.byteLength(sample.single());
  const parts = [
    `## Run ${new Date().toISOString()}`,
    `Command: \`node bench/run.js${quick ? ' --quick' : ''}\`${process.env.BENCH_ONLY ? ` with BENCH_ONLY=${process.env.BENCH_ONLY}` : ''} (${S.runs} rounds; ${S.duration} s measured + ${S.warmup} s warm-up per ingest load, ${S.connections} connections, autocannon in the parent process, each server in its own child process; drain of ${fmt(S.drainRows)} rows). Total ${fmt(totalSeconds)} s.`,
    `Code: commit ${facts.commit}${facts.srcModified ? ' with uncommitted changes in src/' : ''}, dist/ built ${new Date(facts.builtAt).toISOString()}.`,
    `Machine: nproc ${facts.nproc}, ${facts.cpuModel}, Node ${facts.node}, ${facts.kernel}, ${fmt(facts.memMiB)} MiB RAM, bench/.work on ${facts.workDirFs}.`,
    `Cells: median (min–max) over ${S.runs} rounds; every round measures the baseline and the sidecar one after the other. Ingest: the sidecar's sender points at a closed loopback port, so only ingest is measured.`,
  ];
  if (ingestRows.some((r) => r.bench === 'ingest-single')) {
    parts.push(`### ingest-single (one report per POST, ~${fmt(singleBytes / 2)} B)`, ingestTable(ingestRows, 'ingest-single'));
  }
  if (ingestRows.some((r) => r.bench === 'ingest-array100')) {
    parts.push(`### ingest-array100 (100 reports per POST: 50 CLIENT/SERVER pairs, ~${fmt(arrayKiB)} KiB)`, ingestTable(ingestRows, 'ingest-array100'));
  }
  if (drainRounds.length > 0) {
    parts.push(
      `### drain (${fmt(S.drainRows)} pending rows, half per organisation → loopback PCM over HTTPS; spool sync=full; default sender settings)`,
      drainTable(drainRounds),
      'CPU during the drain:',
      cpuTable(drainRounds),
    );
  }
  parts.push(
    suspicious.length
      ? `### Checks that failed\n\n${suspicious.map((x) => `- ${x}`).join('\n')}`
      : 'All checks passed: no non-2xx, no connection errors, no duplicates, spool rows ≥ acknowledged reports, every drained row accepted exactly once by the sink, no other process above 0.3 cores during a measurement, dist/ unchanged during the run.',
  );
  return `${parts.join('\n\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const startedAt = performance.now();
  ensureDirs();
  for (const f of readdirSync(LOG_DIR)) rmSync(join(LOG_DIR, f), { force: true });
  const facts = machine();
  const version = sourceVersion();
  const builtAt = distStamp();
  log(`machine: ${JSON.stringify(facts)}`);
  log(`settings: ${JSON.stringify(S)}`);
  await benchPki();

  const ingestRows = [];
  const drainRounds = [];
  const syncs = S.normal ? ['full', 'normal'] : ['full'];
  for (let round = 1; round <= S.runs; round++) {
    log(`--- round ${round}/${S.runs}`);
    for (const bench of ['ingest-single', 'ingest-array100'].filter((b) => S.only.includes(b))) {
      ingestRows.push(await ingestCase(round, bench, 'bare'));
      for (const sync of syncs) ingestRows.push(await ingestCase(round, bench, 'sidecar', sync));
    }
    if (S.only.includes('drain')) drainRounds.push(await drainRound(round));
  }
  const totalSeconds = (performance.now() - startedAt) / 1000;
  if (distStamp() !== builtAt) flag('dist/ was rebuilt while the benchmark ran: later rounds measured different code');
  const md = markdown({ ...facts, ...version, builtAt }, ingestRows, drainRounds, totalSeconds);
  writeFileSync(join(WORK_DIR, 'last-run.json'), JSON.stringify({ settings: S, machine: facts, version, ingest: ingestRows, drain: drainRounds, suspicious, totalSeconds }, null, 2));
  writeFileSync(join(WORK_DIR, 'last-run.md'), md);
  process.stdout.write(`${md}\n`);
  log(`done in ${totalSeconds.toFixed(0)} s; raw numbers in bench/.work/last-run.json`);
  if (suspicious.length) process.exitCode = 2;
}

main().catch((err) => {
  log(`FAILED: ${err?.stack ?? err}`);
  process.exit(1);
});
