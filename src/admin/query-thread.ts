import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { AdminUnavailableError, SidecarError } from '../errors.js';
import { workerFile } from '../worker-file.js';
import type { AdminSpoolData, AdminTaskKind, AdminTasks, AdminWorkerData, AdminWorkerMessage, AdminWorkerReply, ReplayRulesData, WireError } from './query-task.js';

/**
 * The main thread's side of the admin API's query thread (query-worker.ts): the admin routes' questions about the
 * spool and their replays run there, one at a time, in the order asked, so that none holds the event loop (ingest,
 * the sender, probes). Started at the first request — most sidecars never get one — and stopped after an idle while.
 * A request past its time limit answers 503; the thread running it is terminated and the next request gets a new one.
 */

export interface AdminQueryLimits {
  /** Longest a request may run in the thread: past it, 503 and the thread is replaced. */
  timeLimitMs: number;
  /** Requests waiting behind the one running: one more is answered 503 with Retry-After. */
  maxWaiting: number;
  /** The thread stops after this long without a request (its memory goes with it). */
  idleMs: number;
}

export const ADMIN_QUERY_LIMITS: AdminQueryLimits = { timeLimitMs: 30_000, maxWaiting: 8, idleMs: 60_000 };

/** Retry-After of a 503 for a full queue: about one ordinary question's time, not a stuck one's. */
const BUSY_RETRY_AFTER_SECONDS = 5;

/**
 * A question stops itself at its limit (SpoolQueries.within), with a clean answer; the thread is terminated only
 * when it has not answered this much later (a replay, a sort, a wait for the writer's lock).
 */
const STOP_GRACE_MS = 2000;

/** One page of answers at a time: V8's default young generation would only grow the thread's resident size. */
const QUERY_YOUNG_GENERATION_MB = 8;
/**
 * A question or replay that would need more (a replay of millions of dead letters) ends its thread with
 * ERR_WORKER_OUT_OF_MEMORY and a 500, rather than growing the process until the container is killed.
 */
const QUERY_OLD_GENERATION_MB = 256;

interface Job {
  kind: AdminTaskKind;
  /** A function is called when the request's turn comes (what it reads from the sidecar's memory is fresh then). */
  ask: AdminTasks[AdminTaskKind]['ask'] | (() => AdminTasks[AdminTaskKind]['ask']);
  resolve: (answer: AdminTasks[AdminTaskKind]['answer']) => void;
  reject: (err: Error) => void;
}

function revive(error: WireError): Error {
  if (error.code === 'PCM_QUERY_TOO_LONG') return new AdminUnavailableError('PCM_QUERY_TOO_LONG', `${error.message}: narrow it (endpoint, status, from, to)`);
  if (error.code?.startsWith('PCM_')) return new SidecarError(error.code, error.message);
  return Object.assign(new Error(error.message), { name: error.name });
}

export class AdminQueryThread {
  private readonly limits: AdminQueryLimits;
  private worker: Worker | null = null;
  private ready = false;
  private readonly waiting: Job[] = [];
  private running: { job: Job; id: number; timer: NodeJS.Timeout } | null = null;
  private nextId = 1;
  private idle: NodeJS.Timeout | null = null;
  /** Threads terminated or told to close that have not ended yet (a statement runs on until it returns). */
  private readonly ending = new Set<Promise<unknown>>();
  private closed = false;
  private startCount = 0;

  constructor(
    private readonly spool: AdminSpoolData,
    private rules: ReplayRulesData,
    limits: Partial<AdminQueryLimits> = {},
    private readonly log?: Logger,
  ) {
    this.limits = { ...ADMIN_QUERY_LIMITS, ...limits };
  }

  /**
   * What the thread does now: the request running (null when none), how many wait, whether a thread is there, and
   * how many were started so far (a replaced or idle-stopped one counts again when its successor starts).
   */
  status(): { running: AdminTaskKind | null; waiting: number; alive: boolean; starts: number } {
    return { running: this.running?.job.kind ?? null, waiting: this.waiting.length, alive: this.worker !== null, starts: this.startCount };
  }

  /**
   * Asks the thread; rejects with AdminUnavailableError (503) when the queue is full or the time limit passes. An
   * `ask` given as a function is made when the request's turn comes, not while it waits.
   */
  run<K extends AdminTaskKind>(kind: K, ask: AdminTasks[K]['ask'] | (() => AdminTasks[K]['ask'])): Promise<AdminTasks[K]['answer']> {
    if (this.closed) return Promise.reject(new AdminUnavailableError('PCM_ADMIN_BUSY', 'the sidecar is stopping', BUSY_RETRY_AFTER_SECONDS));
    if (this.waiting.length + (this.running ? 1 : 0) > this.limits.maxWaiting) {
      return Promise.reject(
        new AdminUnavailableError(
          'PCM_ADMIN_BUSY',
          `the admin API is busy: one request runs and ${this.waiting.length} wait, the most it queues; try again later`,
          BUSY_RETRY_AFTER_SECONDS,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ kind, ask, resolve: resolve as Job['resolve'], reject });
      this.next();
    });
  }

  /** The rules replays validate with from now on (a SIGHUP reload); a replay under way finishes with its own. */
  setRules(rules: ReplayRulesData): void {
    this.rules = rules;
    this.worker?.postMessage({ type: 'rules', rules } satisfies AdminWorkerMessage);
  }

  /** Refuses further requests and ends the thread; waiting requests are answered 503. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearIdle();
    for (const job of this.waiting.splice(0)) job.reject(new AdminUnavailableError('PCM_ADMIN_BUSY', 'the sidecar is stopping', BUSY_RETRY_AFTER_SECONDS));
    if (this.running) this.finish(this.running.id, new AdminUnavailableError('PCM_ADMIN_BUSY', 'the sidecar is stopping'));
    this.retire('terminate');
    await Promise.all([...this.ending]);
  }

  private next(): void {
    if (this.running || this.waiting.length === 0 || this.closed) return;
    this.clearIdle();
    if (!this.worker) this.start();
    if (!this.ready) return;
    const job = this.waiting.shift() as Job;
    let ask: AdminTasks[AdminTaskKind]['ask'];
    try {
      ask = typeof job.ask === 'function' ? job.ask() : job.ask;
    } catch (err) {
      job.reject(err as Error);
      this.next();
      return;
    }
    const id = this.nextId++;
    const timer = setTimeout(() => this.overTime(id), this.limits.timeLimitMs + Math.min(STOP_GRACE_MS, this.limits.timeLimitMs));
    this.running = { job, id, timer };
    (this.worker as Worker).postMessage({ type: 'task', id, kind: job.kind, ask } satisfies AdminWorkerMessage);
  }

  private start(): void {
    const data: AdminWorkerData = { spool: this.spool, rules: this.rules, timeLimitMs: this.limits.timeLimitMs };
    const worker = new Worker(workerFile(new URL('./query-worker.js', import.meta.url)), {
      workerData: data,
      resourceLimits: { maxYoungGenerationSizeMb: QUERY_YOUNG_GENERATION_MB, maxOldGenerationSizeMb: QUERY_OLD_GENERATION_MB },
    });
    this.worker = worker;
    this.ready = false;
    this.startCount++;
    this.log?.debug('admin query thread started');
    // Answers of a thread already replaced are dropped: its request was answered 503.
    worker.on('message', (reply: AdminWorkerReply) => {
      if (worker !== this.worker) return;
      if (reply.type === 'ready') {
        this.ready = true;
        this.next();
      } else if (reply.type === 'unusable') {
        this.lost(new SidecarError('PCM_ADMIN_QUERY_THREAD', `the admin query thread cannot open the spool: ${reply.error.message}`), 'terminate');
      } else if (this.running?.id === reply.id) {
        if (reply.type === 'done') this.finish(reply.id, null, reply.answer);
        else this.finish(reply.id, revive(reply.error));
      }
    });
    worker.on('error', (err) => {
      if (worker === this.worker) this.lost(new SidecarError('PCM_ADMIN_QUERY_THREAD', `the admin query thread failed: ${err.message}`), 'terminate');
    });
    // An answer that cannot be read back: the request fails now, not when its time runs out.
    worker.on('messageerror', (err) => {
      if (worker === this.worker) this.lost(new SidecarError('PCM_ADMIN_QUERY_THREAD', `an answer of the admin query thread could not be read: ${err.message}`), 'terminate');
    });
    worker.on('exit', (code) => {
      if (worker === this.worker) this.lost(new SidecarError('PCM_ADMIN_QUERY_THREAD', `the admin query thread exited (code ${code})`), 'gone');
    });
  }

  /**
   * The thread failed: the request it ran is answered with `err` (a 500) and the next gets a new thread. One that
   * failed before it was ready cannot open the spool (or load): every waiting request gets `err`, not a new thread.
   */
  private lost(err: Error, how: 'terminate' | 'gone'): void {
    this.log?.error({ err: err.message }, 'admin query thread lost');
    const started = this.ready;
    this.retire(how);
    if (!started) for (const job of this.waiting.splice(0)) job.reject(err);
    if (this.running) this.finish(this.running.id, err);
  }

  private overTime(id: number): void {
    if (this.running?.id !== id) return;
    const seconds = this.limits.timeLimitMs / 1000;
    this.log?.warn({ kind: this.running.job.kind, limitSeconds: seconds }, 'admin request took longer than its limit; its thread is terminated');
    // better-sqlite3 cannot interrupt a statement: the thread goes, a new one takes the next request.
    this.retire('terminate');
    this.finish(id, new AdminUnavailableError('PCM_QUERY_TOO_LONG', `the request took longer than ${seconds} s and was stopped: narrow it (endpoint, status, from, to); a replay keeps what it stored before, run it again for the rest`));
  }

  private finish(id: number, err: Error | null, answer?: AdminTasks[AdminTaskKind]['answer']): void {
    const running = this.running;
    if (running?.id !== id) return;
    clearTimeout(running.timer);
    this.running = null;
    if (err) running.job.reject(err);
    else running.job.resolve(answer as AdminTasks[AdminTaskKind]['answer']);
    this.next();
    if (!this.running && this.waiting.length === 0 && this.worker && !this.closed) {
      this.idle = setTimeout(() => this.retire('close'), this.limits.idleMs);
      this.idle.unref();
    }
  }

  /** Lets go of the current thread: terminated, told (idle) to close its connection and end, or already gone. */
  private retire(how: 'terminate' | 'close' | 'gone'): void {
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    this.ready = false;
    this.clearIdle();
    if (how === 'gone') return;
    const ended = new Promise<unknown>((resolve) => {
      worker.once('exit', resolve);
      if (how === 'terminate') void worker.terminate();
      else worker.postMessage({ type: 'close' } satisfies AdminWorkerMessage);
    });
    this.ending.add(ended);
    void ended.then(() => this.ending.delete(ended));
    if (how === 'close') this.log?.debug('admin query thread stopped after an idle while');
  }

  private clearIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
  }
}
