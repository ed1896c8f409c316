// Memory of the drain: does the sidecar's RSS grow with the backlog? For each backlog size, a spool is prefilled
// through Spool.write() and drained by the sidecar (drain-child.js) to the trivial loopback sink, sampling RSS every
// 20 ms. Baseline in the same round: a bare Node + better-sqlite3 process that opens the same spool and reads it.
// Usage: npm run build && node bench/memory.js   (BENCH_MEMORY_SIZES=50000,400000 BENCH_MEMORY_ROUNDS=3)
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { benchPki, ensureDirs, machine, median, startChild, WORK_DIR } from './lib.js';

const SIZES = (process.env.BENCH_MEMORY_SIZES ?? '50000,400000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_MEMORY_ROUNDS ?? 3);
ensureDirs();
const WORK = WORK_DIR;
const removeDb = (path) => ['', '-wal', '-shm'].forEach((s) => rmSync(path + s, { force: true }));
const log = (msg) => console.log(`[memory ${new Date().toISOString().slice(11, 19)}] ${msg}`);

async function job(script, options, name, type = 'done', timeoutMs = 300_000) {
  const child = await startChild(script, options, name);
  try {
    return await child.waitFor(type, timeoutMs);
  } finally {
    await child.exit(10_000);
  }
}

const pki = await benchPki();
const results = {};
log(`machine: ${JSON.stringify(machine())}`);
for (let round = 1; round <= ROUNDS; round++) {
  for (const size of SIZES) {
    const template = join(WORK, `memory-${size}.db`);
    if (round === 1) {
      removeDb(template);
      const prefill = await job('sqlite-child.js', { mode: 'prefill', path: template, pairs: size / 2, chunk: 1000, sync: 'normal' }, `memory-prefill-${size}`);
      if (prefill.stored !== size) throw new Error(`prefill stored ${prefill.stored} of ${size}`);
    }
    const spoolPath = join(WORK, `memory-${size}-r${round}.db`);
    removeDb(spoolPath);
    copyFileSync(template, spoolPath);
    const bare = await job('rss-child.js', { spoolPath }, `memory-bare-${size}-r${round}`);
    const sink = await startChild('sink-server.js', { mode: 'trivial', pki }, `memory-sink-${size}-r${round}`);
    let drained;
    try {
      drained = await job(
        'drain-child.js',
        { spoolPath, pki, pcmUrl: sink.ready.url, authUrl: sink.ready.authUrl, expected: size, timeoutMs: 240_000, logLevel: 'warn', exposeGc: true },
        `memory-drain-${size}-r${round}`,
      );
    } finally {
      await sink.request({ cmd: 'stop' }, 'stopped', 10_000).catch(() => {});
      await sink.exit(5_000);
    }
    removeDb(spoolPath);
    if (drained.timedOut || drained.counts.accepted !== size) throw new Error(`drain of ${size}: ${JSON.stringify(drained.counts)}`);
    (results[size] ??= []).push({ bare: bare.rssMiB, bodyMiB: bare.bodyMiB, peak: drained.peakRssMiB, heap: drained.peakHeapMiB, retained: drained.heapAfterGcMiB, end: drained.rssMiB, rowsPerSec: drained.rowsPerSec });
    log(`r${round} backlog ${size}: bare ${bare.rssMiB.toFixed(0)} MiB, sidecar peak ${drained.peakRssMiB.toFixed(0)} MiB (end ${drained.rssMiB.toFixed(0)}, peak JS heap ${drained.peakHeapMiB.toFixed(0)}, JS heap after GC ${drained.heapAfterGcMiB.toFixed(0)}), bodies ${bare.bodyMiB.toFixed(0)} MiB, ${drained.rowsPerSec.toFixed(0)} rows/s`);
  }
}
for (const size of SIZES) removeDb(join(WORK, `memory-${size}.db`));

const m = (size, key) => median(results[size].map((r) => r[key]));
const fmt = (x) => x.toFixed(0);
console.log(`\n| backlog (rows) | report bodies in the spool | bare node + better-sqlite3 RSS (baseline) | sidecar peak RSS while draining | sidecar peak JS heap | JS heap after a full GC at the end | sidecar RSS at the end | drain rows/s |`);
console.log('|---|---|---|---|---|---|---|---|');
for (const size of SIZES) {
  console.log(`| ${size.toLocaleString('en')} | ${fmt(m(size, 'bodyMiB'))} MiB | ${fmt(m(size, 'bare'))} MiB | ${fmt(m(size, 'peak'))} MiB | ${fmt(m(size, 'heap'))} MiB | ${fmt(m(size, 'retained'))} MiB | ${fmt(m(size, 'end'))} MiB | ${fmt(m(size, 'rowsPerSec'))} |`);
}
console.log(`\nmedians of ${ROUNDS} rounds`);
