// Child process: the drain benchmark's sidecar. Opens a prefilled spool with startSidecar (sender → options.pcmUrl),
// and times until the sender has recorded an answer for options.expected rows (or options.timeoutMs passes).
// Progress is read from sender.status() every options.pollMs (in-memory counters, updated right after each
// spool.complete() commit); spool.counts() — a GROUP BY over the table — is read once at the end to confirm.
// Tells the parent {type:'ready'}, then {type:'done', ...} and exits.
import { performance } from 'node:perf_hooks';
import { configSchema } from '../dist/config/schema.js';
import { createLogger } from '../dist/log.js';
import { startSidecar } from '../dist/sidecar.js';
import { childOptions, ORGS, sleep, tell } from './lib.js';

const options = childOptions();
await tell({ type: 'ready', pid: process.pid });

const config = configSchema.parse({
  ingest: { host: '127.0.0.1', port: 0 },
  spool: { path: options.spoolPath, sync: options.sync ?? 'full' },
  pcm: { apiUrl: options.pcmUrl, authUrl: options.authUrl ?? options.pcmUrl, caFile: options.pki.caCert },
  organisations: ORGS.map((o) => ({ ...o, certFile: options.pki.clients[o.orgId].cert, keyFile: options.pki.clients[o.orgId].key })),
  sender: options.sender ?? {},
  log: { level: options.logLevel ?? 'warn' },
});

const cpuBefore = process.cpuUsage();
const eluBefore = performance.eventLoopUtilization();
const started = performance.now();
const sidecar = await startSidecar(config, createLogger(config.log.level));
const answered = () => sidecar.sender.status().reduce((n, lane) => n + lane.reportsAccepted + lane.reportsDiscarded, 0);
const progress = []; // [ms, rows answered] about once a second
let lastMark = 0;
let done = 0;
let peakRss = process.memoryUsage().rss;
let peakHeap = process.memoryUsage().heapUsed;
let firstAt = null;
while (performance.now() - started < options.timeoutMs) {
  done = answered();
  const memory = process.memoryUsage();
  peakRss = Math.max(peakRss, memory.rss);
  peakHeap = Math.max(peakHeap, memory.heapUsed);
  const now = performance.now() - started;
  if (done > 0 && firstAt === null) firstAt = now;
  if (now - lastMark >= 1000) {
    progress.push([Math.round(now), done]);
    lastMark = now;
  }
  if (done >= options.expected) break;
  await sleep(options.pollMs ?? 20);
}
const elapsedMs = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
const elu = performance.eventLoopUtilization(eluBefore);
// What the sidecar still holds once garbage is collected (with --expose-gc): retained memory, not GC laziness.
const gc = globalThis.gc;
if (typeof gc === 'function') gc();
const heapAfterGcMiB = typeof gc === 'function' ? process.memoryUsage().heapUsed / 2 ** 20 : null;
const counts = sidecar.spool.counts();
const lanes = sidecar.sender.status();
await sidecar.stop(5000);
await tell({
  type: 'done',
  expected: options.expected,
  answered: done,
  timedOut: done < options.expected,
  elapsedMs,
  firstBatchMs: firstAt,
  rowsPerSec: (done / elapsedMs) * 1000,
  progress,
  counts,
  lanes,
  cpuUserMs: cpu.user / 1000,
  cpuSystemMs: cpu.system / 1000,
  processCpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
  // Share of the wall time the sidecar's one thread was busy (JS, SQLite calls and their fsyncs, TLS).
  eventLoopUtilization: elu.utilization,
  rssMiB: process.memoryUsage().rss / 2 ** 20,
  // Sampled every poll (20 ms) while draining: memory must not grow with the backlog.
  peakRssMiB: peakRss / 2 ** 20,
  peakHeapMiB: peakHeap / 2 ** 20,
  heapAfterGcMiB,
});
process.exit(0);
