// Child process: SQLite writes, timed.
//   mode "prefill":  builds options.pairs CLIENT/SERVER pairs, validates them as ingest does, and writes them through
//                    the project's Spool.write() in requests of options.chunk reports, one after another (each request
//                    is its own group commit = one transaction). Produces the spool the drain benchmark starts from.
//   mode "bare":     the drain baseline: reads the rows of options.source (a prefilled spool), then inserts the same
//                    rows with bare better-sqlite3 into a fresh file (WAL, synchronous=FULL) in transactions of
//                    options.chunk rows. options.schema "minimal" (default) or "spool" (the spool's own DDL and INSERT).
// Tells the parent {type:'ready'} at once and {type:'done', ...} when finished, then exits.
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DEFAULTS } from '../dist/config/schema.js';
import { loadCatalog } from '../dist/report/catalog.js';
import { reportRules } from '../dist/report/context.js';
import { prepareReport, spoolEntry } from '../dist/report/validate.js';
import { Spool } from '../dist/spool/spool.js';
import { bodyFactory, childOptions, ORGS, tell } from './lib.js';

const options = childOptions();
await tell({ type: 'ready', pid: process.pid });

function removeDb(path) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

async function prefill() {
  const { path, pairs, chunk } = options;
  removeDb(path);
  const context = reportRules({ organisations: ORGS, opendataOrgId: null, rules: { ...DEFAULTS.rules } }, loadCatalog()).validation();
  const factory = bodyFactory();
  // Build and validate everything first, so only the writes are timed.
  const reports = [];
  for (let done = 0; done < pairs; done += 50) {
    for (const item of JSON.parse(factory.pairs(Math.min(50, pairs - done)))) {
      const checked = prepareReport(item, context);
      if (!checked.ok) throw new Error(`bench report refused: ${JSON.stringify(checked.problems)}`);
      reports.push(spoolEntry(checked));
    }
  }
  const spool = new Spool({ path, sync: options.sync ?? 'full' });
  const started = performance.now();
  let stored = 0;
  for (let i = 0; i < reports.length; i += chunk) {
    const outcome = await spool.write({ reports: reports.slice(i, i + chunk), rejected: [] });
    stored += outcome.filter((o) => o === 'stored').length;
  }
  const elapsedMs = performance.now() - started;
  const counts = spool.counts();
  await spool.close();
  const bytes = reports.reduce((n, r) => n + Buffer.byteLength(r.json), 0);
  return { rows: reports.length, stored, counts, elapsedMs, rowsPerSec: (reports.length / elapsedMs) * 1000, avgReportBytes: bytes / reports.length };
}

function bare() {
  const { source, path, chunk } = options;
  const src = new Database(source, { readonly: true });
  const rows = src.prepare('SELECT org_id, lane, dedup_key, fapi_interaction_id, body, bytes FROM reports ORDER BY id').all();
  src.close();
  removeDb(path);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  let insert;
  if (options.schema === 'spool') {
    // The spool's DDL (src/spool/spool.ts MIGRATIONS) and INSERT, without the Spool class around them.
    db.exec(`
      CREATE TABLE reports (
        id INTEGER PRIMARY KEY, stream TEXT NOT NULL DEFAULT 'private', org_id TEXT NOT NULL, lane TEXT NOT NULL,
        dedup_key BLOB NOT NULL UNIQUE, fapi_interaction_id TEXT, body TEXT NOT NULL, repairs TEXT, bytes INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, report_id TEXT,
        pcm_message TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE INDEX reports_pending ON reports (lane, id) WHERE state = 'pending';
      CREATE INDEX reports_inflight ON reports (id) WHERE state = 'inflight';
      CREATE INDEX reports_fapi ON reports (fapi_interaction_id);`);
    const stmt = db.prepare(
      `INSERT INTO reports (stream, org_id, lane, dedup_key, fapi_interaction_id, body, repairs, bytes, created_at, updated_at)
       VALUES ('private', ?, ?, ?, ?, ?, NULL, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING`,
    );
    insert = (r, now) => stmt.run(r.org_id, r.lane, r.dedup_key, r.fapi_interaction_id, r.body, r.bytes, now, now);
  } else {
    db.exec('CREATE TABLE reports (id INTEGER PRIMARY KEY, org_id TEXT NOT NULL, dedup_key TEXT NOT NULL UNIQUE, body TEXT NOT NULL)');
    const stmt = db.prepare('INSERT INTO reports (org_id, dedup_key, body) VALUES (?, ?, ?)');
    insert = (r) => stmt.run(r.org_id, r.dedup_key, r.body);
  }
  const batch = db.transaction((slice) => {
    const now = Date.now();
    for (const r of slice) insert(r, now);
  });
  const started = performance.now();
  for (let i = 0; i < rows.length; i += chunk) batch(rows.slice(i, i + chunk));
  const elapsedMs = performance.now() - started;
  const count = db.prepare('SELECT count(*) AS n FROM reports').get().n;
  db.close();
  removeDb(path);
  return { rows: rows.length, stored: count, elapsedMs, rowsPerSec: (rows.length / elapsedMs) * 1000 };
}

try {
  const result = options.mode === 'prefill' ? await prefill() : bare();
  await tell({ type: 'done', ...result });
  process.exit(0);
} catch (err) {
  console.error(err);
  await tell({ type: 'failed', error: String(err?.stack ?? err) });
  process.exit(1);
}
