import type Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { Appender, type AppenderOptions } from './appender.js';
import { openDatabase, type OpenOptions } from './schema.js';
import { LedgerStore, type LedgerOp } from './ledger-store.js';
import { decodeGroup, encodeOutcomes, type WireGroup } from './wire.js';

/**
 * The writer thread's body: its own connection to the spool, the de-duplication window, and one transaction per
 * message. The event loop of the main thread parses and validates while this one waits for fsync.
 */

export interface WriterData {
  open: OpenOptions;
  appender: AppenderOptions;
}

export type WriterMessage = { type: 'commit'; id: number; group: WireGroup } | { type: 'ledger'; id: number; ops: LedgerOp[] } | { type: 'sync'; id: number } | { type: 'close' };

function errorOf(err: unknown): { name: string; message: string; code?: string } {
  const e = err as { name?: string; message?: string; code?: string };
  return { name: e.name ?? 'Error', message: e.message ?? String(err), ...(e.code ? { code: e.code } : {}) };
}

const port = parentPort;
if (!port) throw new Error('writer-worker.ts runs as a worker thread');
const data = workerData as WriterData;
let opened: { db: Database.Database; appender: Appender; ledger: LedgerStore };
try {
  const { db } = openDatabase(data.open);
  opened = { db, appender: new Appender(db, data.appender), ledger: new LedgerStore(db) };
  opened.appender.buildWindow();
} catch (err) {
  // Structured clone keeps an Error's message but not a SqliteError's: say it in words.
  port.postMessage({ type: 'unusable', error: errorOf(err) });
  process.exit(1);
}
const { db, appender, ledger } = opened;
port.postMessage({ type: 'ready' });

port.on('message', (message: WriterMessage) => {
  if (message.type === 'close') {
    db.close();
    port.postMessage({ type: 'closed' });
    port.close();
    return;
  }
  if (message.type === 'sync') {
    port.postMessage({ type: 'synced', id: message.id });
    return;
  }
  if (message.type === 'ledger') {
    try {
      ledger.apply(message.ops);
      port.postMessage({ type: 'ledger-done', id: message.id });
    } catch (err) {
      port.postMessage({ type: 'ledger-failed', id: message.id, error: errorOf(err) });
    }
    return;
  }
  try {
    const { outcomes, appended, evicted } = appender.commit(decodeGroup(message.group));
    const flags = encodeOutcomes(outcomes);
    port.postMessage({ type: 'done', id: message.id, flags, appended, evicted }, [flags.buffer]);
  } catch (err) {
    port.postMessage({ type: 'failed', id: message.id, error: errorOf(err) });
  }
});
