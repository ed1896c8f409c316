import { Worker } from 'node:worker_threads';
import { SidecarError, SpoolFullError, SpoolWriterError } from '../errors.js';
import { workerFile } from '../worker-file.js';
import type { LedgerOp } from './ledger-store.js';
import type { CommitResult, LaneAppend, WriteRequest } from './types.js';
import { decodeOutcomes, encodeGroup } from './wire.js';
import type { WriterData } from './writer-worker.js';

/** The main thread's side of the writer thread: commit messages (a few may be queued: spool.ts's COMMIT_DEPTH), answered in order. */

type Reply =
  | { type: 'ready' }
  | { type: 'unusable'; error: { name: string; message: string; code?: string } }
  | { type: 'closed' }
  | { type: 'synced'; id: number }
  | { type: 'ledger-done'; id: number }
  | { type: 'ledger-failed'; id: number; error: { name: string; message: string; code?: string } }
  | { type: 'done'; id: number; flags: Uint8Array; appended: LaneAppend[]; evicted: number }
  | { type: 'failed'; id: number; error: { name: string; message: string; code?: string } };

function revive(error: { name: string; message: string; code?: string }): Error {
  if (error.code === 'PCM_SPOOL_FULL') return new SpoolFullError(error.message);
  if (error.code?.startsWith('PCM_')) return new SidecarError(error.code, error.message);
  return Object.assign(new Error(error.message), { name: error.name, code: error.code });
}

/**
 * The writer's young generation. It holds the strings of the commit under way (copied in from the event loop, bound
 * to statements, dropped; the next message waits serialised in the port); V8's default (the main thread's, up to 48 MiB) only grows its resident size.
 */
const WRITER_YOUNG_GENERATION_MB = 8;

export class WriterThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { counts: Uint32Array; resolve: (r: CommitResult) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  /** Waiting for the thread to reach a message: a plain sync, or ledger changes (rejected if they fail). */
  private readonly syncs = new Map<number, { ledger: boolean; resolve: () => void; reject: (err: Error) => void }>();
  private failure: Error | null = null;
  private closed: Promise<void> | null = null;

  private constructor(data: WriterData, onFailure: (err: Error) => void, onLedgerError: (err: Error) => void) {
    this.worker = new Worker(workerFile(new URL('./writer-worker.js', import.meta.url)), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB } });
    let fail: (err: Error) => void = () => undefined;
    this.worker.on('message', (reply: Reply) => {
      if (reply.type === 'synced' || reply.type === 'ledger-done') {
        this.syncs.get(reply.id)?.resolve();
        this.syncs.delete(reply.id);
      }
      if (reply.type === 'ledger-failed') {
        // Memory is ahead of the file now: nothing more is leased or sent by this process; it stops as if the
        // thread had died (/healthz fails), and the next start reads the ledger from the file.
        const err = revive(reply.error);
        onLedgerError(err);
        fail(err);
        void this.worker.terminate();
      }
      if (reply.type !== 'done' && reply.type !== 'failed') return;
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.type === 'done' && w) w.resolve({ outcomes: decodeOutcomes(reply.flags, w.counts), appended: reply.appended, evicted: reply.evicted });
      else if (reply.type === 'failed') w?.reject(revive(reply.error));
    });
    fail = (err: Error): void => {
      if (this.failure) return;
      this.failure = new SpoolWriterError(`the spool's writer thread stopped: ${err.message}`, { cause: err });
      for (const w of this.waiting.values()) w.reject(this.failure);
      this.waiting.clear();
      for (const s of this.syncs.values()) {
        if (s.ledger) s.reject(this.failure);
        else s.resolve();
      }
      this.syncs.clear();
      if (!this.closed) onFailure(this.failure);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  /** Starts the thread and resolves once it has opened the spool and rebuilt the de-duplication window. */
  static start(data: WriterData, onFailure: (err: Error) => void, onLedgerError: (err: Error) => void = () => undefined): Promise<WriterThread> {
    const thread = new WriterThread(data, onFailure, onLedgerError);
    return new Promise((resolve, reject) => {
      const onReady = (reply: Reply): void => {
        if (reply.type === 'unusable') reject(new SpoolWriterError(`the spool's writer thread cannot open the spool: ${reply.error.message}`, { cause: revive(reply.error) }));
        if (reply.type !== 'ready') return;
        thread.worker.off('message', onReady);
        resolve(thread);
      };
      thread.worker.on('message', onReady);
      thread.worker.once('error', reject);
      thread.worker.once('exit', (code) => reject(new SpoolWriterError(`the spool's writer thread exited at start (code ${code})`)));
    });
  }

  commit(requests: readonly WriteRequest[]): Promise<CommitResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const group = encodeGroup(requests);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { counts: group.counts, resolve, reject });
      this.worker.postMessage({ type: 'commit', id, group }, [group.lengths.buffer, group.laneIndex.buffer, group.times.buffer]);
    });
  }

  /**
   * Ledger changes, applied by the thread in order with its commits. Resolves once they are in the file; rejects if
   * they could not be (then onLedgerError and onFailure were told). The caller may go on without waiting.
   */
  ledger(ops: readonly LedgerOp[]): Promise<void> {
    if (ops.length === 0 && !this.failure) return Promise.resolve();
    const failure = this.failure;
    const id = this.nextId++;
    const recorded = failure
      ? Promise.reject(failure)
      : new Promise<void>((resolve, reject) => {
          this.syncs.set(id, { ledger: true, resolve, reject });
          this.worker.postMessage({ type: 'ledger', id, ops });
        });
    // Callers that do not wait (answers, releases) must not leave an unhandled rejection behind.
    recorded.catch(() => undefined);
    return recorded;
  }

  /** True once the thread stopped or a ledger change failed: nothing more may be leased. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Resolves once the thread has applied every message sent before (ledger changes included). */
  sync(): Promise<void> {
    if (this.failure) return Promise.resolve();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.syncs.set(id, { ledger: false, resolve, reject });
      this.worker.postMessage({ type: 'sync', id });
    });
  }

  /** Closes the thread's connection (after the commits already sent) and ends the thread. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.failure) return resolve();
      this.worker.once('exit', () => resolve());
      this.worker.postMessage({ type: 'close' });
    });
    return this.closed;
  }
}
