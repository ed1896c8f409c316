// Memory under a hostile storm (issue #8): autocannon posts a rotating mix of hostile bodies (deep nesting,
// out-of-range numbers, prototype keys, objects in scalar fields, huge strings, truncated JSON, random bytes, broken
// NDJSON) and valid reports to every ingest route, at full speed. The sidecar's RSS is sampled from /proc every
// 20 ms; the peak is the figure. Baseline in the same round: the bare node:http server of bench/ingest-server.js
// (reads, JSON.parse's, answers) under the same storm.
// Usage: npm run build && node bench/storm.js   (BENCH_STORM_SECONDS=20 BENCH_STORM_ROUNDS=3 BENCH_STORM_CONNECTIONS=32)
// For finding where a peak sits: BENCH_STORM_MODES=bare,sidecar keeps only those rows; BENCH_STORM_FLAGS='--a=1;--b'
// adds a sidecar row per ';'-separated set of node flags (in place of src/node-flags.ts); BENCH_STORM_MEMPROBE=1 logs each child's memory split
// (process.memoryUsage and V8's heap spaces) at its highest RSS.
import autocannon from 'autocannon';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { benchPki, bodyFactory, ensureDirs, machine, median, startChild, unusedPort, WORK_DIR } from './lib.js';

const SECONDS = Number(process.env.BENCH_STORM_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_STORM_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_STORM_CONNECTIONS ?? 32);
const ROUTES = ['/v1/reports', '/v1/interactions', '/v1/gateways/kong', '/v1/gateways/envoy', '/v1/gateways/nginx'];
const log = (msg) => console.error(`[storm ${new Date().toISOString().slice(11, 19)}] ${msg}`);

/** A fixed mix of hostile bodies plus fresh valid ones; each request takes the next. */
function bodies() {
  const deepArray = '['.repeat(5000) + ']'.repeat(5000);
  const deepObject = '{"a":'.repeat(3000) + '1' + '}'.repeat(3000);
  const huge = JSON.stringify({ role: 'CLIENT', endpoint: 'x'.repeat(900_000) });
  const prototypeKeys = JSON.stringify({ __proto__: { role: 'CLIENT' }, constructor: { prototype: 1 }, toString: 1, additionalInfo: { hasOwnProperty: 'x', valueOf: {} } });
  const scalars = JSON.stringify({ role: { toString: 1 }, statusCode: { valueOf: {} }, timestamp: 1e20, startTime: 1e20, started_at: 1e20, msec: 1e308, processTimespan: -1e308 });
  const random = () => Array.from({ length: 512 }, () => String.fromCharCode(Math.floor(Math.random() * 256))).join('');
  const valid = bodyFactory();
  const fixed = [deepArray, deepObject, huge, prototypeKeys, scalars, `[${prototypeKeys},${deepArray},${scalars}]`, '{"role":"CLIENT","endpoint":', '', random()];
  let i = 0;
  return () => {
    i++;
    // One valid report in four: the storm also stores, so the spool and the sender's backlog are part of the figure.
    if (i % 4 === 0) return { route: '/v1/reports', type: 'application/json', body: valid.single() };
    if (i % 11 === 0) return { route: ROUTES[i % ROUTES.length], type: 'application/x-ndjson', body: `${prototypeKeys}\n{broken\n${scalars}\n${randomUUID()}` };
    return { route: ROUTES[i % ROUTES.length], type: 'application/json', body: fixed[i % fixed.length] };
  };
}

function rssOf(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function storm(url, pid) {
  const next = bodies();
  const statuses = {};
  let peak = rssOf(pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections: CONNECTIONS,
        duration: SECONDS,
        timeout: 30,
        requests: [
          {
            method: 'POST',
            setupRequest(req) {
              const b = next();
              return { ...req, path: b.route, headers: { 'content-type': b.type }, body: b.body };
            },
            onResponse(status) {
              statuses[status] = (statuses[status] ?? 0) + 1;
            },
          },
        ],
      },
      (err, result) => {
        clearInterval(sampler);
        if (err) return reject(err);
        resolve({ peakRssMiB: Math.max(peak, rssOf(pid)), requests: result.requests.total, errors: result.errors, timeouts: result.timeouts, statuses });
      },
    );
  });
}

ensureDirs();
const pki = await benchPki();
const pcmUrl = `https://127.0.0.1:${await unusedPort()}`; // nothing answers: the storm measures ingest and spool
// The sidecar as shipped, without the collections asked for after large bodies (src/large-body-gc.ts), and without
// the V8 flags of src/node-flags.ts.
const MODES = {
  bare: { label: 'bare node:http parse (baseline)', options: { mode: 'bare' } },
  sidecar: { label: 'pcm-sidecar (sync=full), as shipped', options: { mode: 'sidecar' } },
  'sidecar-no-gc': { label: 'pcm-sidecar, PCM_INGEST_LARGE_BODY_GC_BYTES=0', options: { mode: 'sidecar', largeBodyGcBytes: 0 } },
  'sidecar-no-flags': { label: 'pcm-sidecar, without the V8 flags of src/node-flags.ts', options: { mode: 'sidecar', noNodeFlags: true } },
};
if (process.env.BENCH_STORM_MODES) {
  for (const m of Object.keys(MODES)) if (!process.env.BENCH_STORM_MODES.split(',').includes(m)) delete MODES[m];
}
for (const [i, flags] of (process.env.BENCH_STORM_FLAGS ?? '').split(';').filter(Boolean).entries()) {
  MODES[`flags${i}`] = { label: `pcm-sidecar, ${flags} (instead of src/node-flags.ts)`, options: { mode: 'sidecar', noNodeFlags: true, nodeFlags: flags.split(' ') } };
}
const rows = Object.fromEntries(Object.keys(MODES).map((m) => [m, []]));
log(`machine: ${JSON.stringify(machine())}`);
for (let round = 1; round <= ROUNDS; round++) {
  for (const mode of Object.keys(MODES)) {
    const spoolPath = join(WORK_DIR, `storm-r${round}.db`);
    for (const s of ['', '-wal', '-shm']) rmSync(spoolPath + s, { force: true });
    const child = await startChild('ingest-server.js', { ...MODES[mode].options, memProbe: process.env.BENCH_STORM_MEMPROBE === '1', spoolPath, pcmUrl, pki, sync: 'full' }, `storm-${mode}-r${round}`);
    const result = await storm(child.ready.url, child.ready.pid);
    const stopped = await child.request({ cmd: 'stop' }, 'stopped', 60_000).catch(() => ({}));
    await child.exit(10_000);
    rows[mode].push({ ...result, quarantined: stopped.counts?.quarantined, pending: stopped.counts?.pending, ...(stopped.peakMemory ? { peakMemory: stopped.peakMemory } : {}) });
    log(`round ${round} ${mode}: ${JSON.stringify(rows[mode].at(-1))}`);
  }
}
const fmt = (n) => (typeof n === 'number' ? n.toFixed(1) : String(n));
console.log(`\nCommand: \`node bench/storm.js\` (${ROUNDS} rounds × ${SECONDS} s, ${CONNECTIONS} connections, autocannon in the parent; machine ${JSON.stringify(machine())})\n`);
console.log('| server | peak RSS MiB (median) | peak RSS MiB (max) | requests per round (median) | 5xx | errors / timeouts | answers (last round) |');
console.log('|---|---|---|---|---|---|---|');
for (const mode of Object.keys(MODES)) {
  const r = rows[mode];
  const fivexx = r.reduce((n, x) => n + Object.entries(x.statuses).filter(([s]) => Number(s) >= 500).reduce((a, [, c]) => a + c, 0), 0);
  console.log(
    `| ${MODES[mode].label} | ${fmt(median(r.map((x) => x.peakRssMiB)))} | ${fmt(Math.max(...r.map((x) => x.peakRssMiB)))} | ${median(r.map((x) => x.requests))} | ${fivexx} | ${r.map((x) => `${x.errors}/${x.timeouts}`).join(', ')} | ${JSON.stringify(r.at(-1).statuses)} |`,
  );
}
