// Child process: the memory baseline. A bare Node process with better-sqlite3 that opens the same spool file,
// counts its rows (touching every page of the table once) and reports its RSS. Tells {type:'ready'}, then 'done'.
import Database from 'better-sqlite3';
import { childOptions, tell } from './lib.js';

const options = childOptions();
await tell({ type: 'ready', pid: process.pid });
const db = new Database(options.spoolPath, { readonly: true });
const rows = db.prepare('SELECT count(*) AS n, sum(length(body)) AS b FROM reports').get();
db.close();
await tell({ type: 'done', rows: rows.n, bodyMiB: rows.b / 2 ** 20, rssMiB: process.memoryUsage().rss / 2 ** 20 });
process.exit(0);
