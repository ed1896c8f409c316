// Child process: SQLite writes, timed.
//   mode "prefill": writes options.rows reports (lib.js spoolRows: CLIENT/SERVER pairs, ~500 B each) into a new spool
//                   at options.path through the spool's public API only — `new Spool({ path, sync })` and
//                   `await spool.write({ reports, rejected: [] })` with options.perWrite reports per call, one call at
//                   a time. Produces the spools the drain, start and backlog scenarios start from. Nothing here knows
//                   the spool's tables: the spool's internals are free to change.
//   mode "append":  the bare SQLite baseline: options.rows ~500-byte rows (the same report JSON) appended with bare
//                   better-sqlite3 to an append-only rowid table `(id INTEGER PRIMARY KEY, body TEXT NOT NULL)` in a
//                   new file, WAL + synchronous=FULL, in transactions of options.txnRows rows.
// Tells the parent {type:'ready'} at once and {type:'done', ...} when finished (or {type:'failed'}), then exits.
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Spool } from '../dist/spool/spool.js';
import { childOptions, removeDb, spoolRows, tell } from './lib.js';

const options = childOptions();
await tell({ type: 'ready', pid: process.pid });

function fileBytes(path) {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += statSync(path + suffix).size;
    } catch {
      /* absent */
    }
  }
  return total;
}

async function prefill() {
  const { path, rows, perWrite = 5000, sync = 'normal', prefix, now } = options;
  removeDb(path);
  const rowsOf = spoolRows({ now, prefix });
  const spool = new Spool({ path, sync });
  const started = performance.now();
  let writeMs = 0;
  let stored = 0;
  let duplicates = 0;
  let bytes = 0;
  let nextReport = rows / 10;
  for (let done = 0; done < rows; ) {
    const reports = rowsOf.next(Math.min(perWrite, rows - done));
    for (const r of reports) bytes += r.json.length;
    const t = performance.now();
    const outcome = await spool.write({ reports, rejected: [] });
    writeMs += performance.now() - t;
    for (const o of outcome) o === 'stored' ? stored++ : duplicates++;
    done += reports.length;
    if (done >= nextReport) {
      process.stderr.write(`prefill ${done}/${rows} rows, ${((done / (performance.now() - started)) * 1000).toFixed(0)} rows/s\n`);
      nextReport += rows / 10;
    }
  }
  const elapsedMs = performance.now() - started;
  let counts = null;
  try {
    counts = spool.counts();
  } catch {
    /* not part of the API any more: the parent says it could not check */
  }
  await spool.close();
  return { rows, stored, duplicates, counts, elapsedMs, writeMs, rowsPerSec: (rows / elapsedMs) * 1000, avgReportBytes: bytes / rows, fileBytes: fileBytes(path) };
}

function append() {
  const { path, rows, txnRows, now, prefix } = options;
  const bodies = spoolRows({ now, prefix })
    .next(rows)
    .map((r) => r.json);
  removeDb(path);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE reports (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO reports (body) VALUES (?)');
  const batch = db.transaction((from, to) => {
    for (let i = from; i < to; i++) insert.run(bodies[i]);
  });
  const started = performance.now();
  for (let i = 0; i < rows; i += txnRows) batch(i, Math.min(rows, i + txnRows));
  const elapsedMs = performance.now() - started;
  const stored = db.prepare('SELECT count(*) AS n FROM reports').get().n;
  db.close();
  removeDb(path);
  const bytes = bodies.reduce((n, b) => n + b.length, 0);
  return { rows, txnRows, stored, elapsedMs, rowsPerSec: (rows / elapsedMs) * 1000, avgRowBytes: bytes / rows };
}

try {
  const result = options.mode === 'prefill' ? await prefill() : append();
  await tell({ type: 'done', ...result });
  process.exit(0);
} catch (err) {
  console.error(err);
  await tell({ type: 'failed', error: String(err?.stack ?? err) });
  process.exit(1);
}
