// Child process: the drain scenarios' sidecar. On {cmd:'go'} it starts the sidecar (startSidecar, as `pcm-sidecar
// run` does) on a prefilled spool, sender → options.pcmUrl, and times until the sender has recorded an answer for
// options.expected reports (or options.timeoutMs passes). The spool may hold more than that (a backlog): the
// sidecar is stopped once `expected` are answered. Progress is read from sender.status() every options.pollMs
// (in-memory counters, updated right after each recorded answer).
// Messages: {type:'ready'} → (parent reads /proc) → {cmd:'go'} → {type:'drained', ...} the moment `expected` are
// answered (the parent reads CPU and memory from /proc then) → the sidecar stops → the spool is opened again to count
// its rows → {type:'done', counts, lanes} → exit.
import { performance } from 'node:perf_hooks';
import { createLogger } from '../dist/log.js';
import { startSidecar } from '../dist/sidecar.js';
import { Spool } from '../dist/spool/spool.js';
import { childOptions, configApart, ORGS, sleep, tell } from './lib.js';

const options = childOptions();
const config = await configApart({
  ingest: { host: '127.0.0.1', port: 0 },
  admin: { host: '127.0.0.1', port: 0 },
  spool: { path: options.spoolPath, sync: options.sync ?? 'full' },
  pcm: { apiUrl: options.pcmUrl, authUrl: options.authUrl ?? options.pcmUrl, caFile: options.pki.caCert },
  organisations: ORGS.map((o) => ({ ...o, certFile: options.pki.clients[o.orgId].cert, keyFile: options.pki.clients[o.orgId].key })),
  sender: options.sender ?? {},
  // A fleet of one, so the drain measures the sender, not a 500th of the participant's rate budget.
  rate: { fleetSize: 1, ...options.rate },
  log: { level: options.logLevel ?? 'warn' },
});
await tell({ type: 'ready', pid: process.pid });
await new Promise((resolve) => process.on('message', (msg) => msg?.cmd === 'go' && resolve()));

const eluBefore = performance.eventLoopUtilization();
const started = performance.now();
const sidecar = await startSidecar(config, createLogger(config.log.level));
const startedMs = performance.now() - started;
const answered = () => sidecar.sender.status().reduce((n, lane) => n + lane.reportsAccepted + lane.reportsDiscarded, 0);
const progress = []; // [ms, reports answered] about once a second
let lastMark = 0;
let done = 0;
let firstAt = null;
let firstCount = 0;
while (performance.now() - started < options.timeoutMs) {
  done = answered();
  const now = performance.now() - started;
  if (done > 0 && firstAt === null) {
    firstAt = now;
    firstCount = done;
  }
  if (now - lastMark >= 1000) {
    progress.push([Math.round(now), done]);
    lastMark = now;
  }
  if (done >= options.expected) break;
  await sleep(options.pollMs ?? 10);
}
const elapsedMs = performance.now() - started;
const elu = performance.eventLoopUtilization(eluBefore);
await tell({
  type: 'drained',
  expected: options.expected,
  answered: done,
  timedOut: done < options.expected,
  startedMs,
  elapsedMs,
  firstBatchMs: firstAt,
  // From startSidecar() to the last answer counted: what a restart with this backlog costs, start-up included.
  reportsPerSec: (done / elapsedMs) * 1000,
  // From the first recorded answer to the last: the drain once it runs.
  steadyReportsPerSec: firstAt !== null && elapsedMs > firstAt ? ((done - firstCount) / (elapsedMs - firstAt)) * 1000 : null,
  progress,
  // Share of the wall time the sidecar's one thread was busy (JS, SQLite calls and their fsyncs, TLS).
  eventLoopUtilization: elu.utilization,
});
await sidecar.stop(10_000);
// After the stop every batch in flight is answered or released: these are final.
const lanes = sidecar.sender.status();
// The stop closed the spool: open it again (public API, rows in flight left as they are) to count what it holds.
let counts = null;
try {
  const spool = new Spool({ path: options.spoolPath, sync: 'normal', guest: true });
  counts = spool.counts();
  await spool.close();
} catch (err) {
  counts = { error: String(err) };
}
await tell({ type: 'done', counts, lanes, answeredFinal: lanes.reduce((n, l) => n + l.reportsAccepted + l.reportsDiscarded, 0) });
process.exit(0);
