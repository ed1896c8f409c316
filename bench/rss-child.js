// Child process: the memory baseline. A bare Node process with better-sqlite3 that opens the same spool file
// (read-only) and reads every row of every table once, then reports what it read. It knows no table or column by
// name (it lists them from the schema), so it keeps working whatever the spool's internals become. The parent
// measures its RSS from /proc. Tells {type:'ready'}, then {type:'done'} and waits for {cmd:'exit'} (so the parent
// can read /proc/<pid>/status while the process still holds what it read).
import Database from 'better-sqlite3';
import { childOptions, tell } from './lib.js';

const options = childOptions();
await tell({ type: 'ready', pid: process.pid });
const db = new Database(options.spoolPath, { readonly: true });
const quote = (name) => `"${String(name).replaceAll('"', '""')}"`;
const tables = db
  .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
  .all()
  .map((t) => t.name);
let rows = 0;
let bytes = 0;
for (const table of tables) {
  const columns = db.prepare(`PRAGMA table_info(${quote(table)})`).all().map((c) => c.name);
  const sum = columns.length ? columns.map((c) => `coalesce(sum(length(${quote(c)})), 0)`).join(' + ') : '0';
  const r = db.prepare(`SELECT count(*) AS n, ${sum} AS b FROM ${quote(table)}`).get();
  rows += r.n;
  bytes += r.b;
}
db.close();
await tell({ type: 'done', tables: tables.length, rows, dataMiB: bytes / 2 ** 20 });
process.on('message', (msg) => {
  if (msg?.cmd === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
