// Memory of the sidecar while it ingests, drains and holds a backlog: now the `rss` scenario of bench/run.js, which
// samples every process from /proc beside a bare node + better-sqlite3 reading the same spool. This file is kept so
// `node bench/memory.js` (README) still works: it runs `node bench/run.js --only=rss` with the arguments given, e.g.
//   node bench/memory.js --backlog=400000 --rounds=3
// (BENCH_MEMORY_SIZES=a,b runs it once per backlog size; BENCH_MEMORY_ROUNDS=N sets --rounds.)
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BENCH_DIR } from './lib.js';

const extra = process.argv.slice(2);
if (process.env.BENCH_MEMORY_ROUNDS) extra.push(`--rounds=${process.env.BENCH_MEMORY_ROUNDS}`);
const sizes = process.env.BENCH_MEMORY_SIZES ? process.env.BENCH_MEMORY_SIZES.split(',').map((s) => s.trim()) : [null];
let status = 0;
for (const size of sizes) {
  const args = [join(BENCH_DIR, 'run.js'), '--only=rss', ...extra, ...(size ? [`--backlog=${size}`] : [])];
  process.stderr.write(`[memory] node ${args.map((a) => a.replace(`${BENCH_DIR}/`, 'bench/')).join(' ')}\n`);
  const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
  status = Math.max(status, run.status ?? 1);
}
process.exit(status);
