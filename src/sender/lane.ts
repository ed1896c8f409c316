import type { Logger } from 'pino';
import type { Organisation } from '../config/schema.js';
import { CredentialError, DeliveryError, TokenError, errorMessage } from '../errors.js';
import { laneOf, type AddedRows, type LeasedRow, type PendingSummary, type RowResult, type Spool, type Stream } from '../spool/spool.js';
import { backoffDelay, sleep } from './backoff.js';
import { loadCa, loadClientCredential } from './credentials.js';
import { ReportClient } from './report-client.js';
import { TokenProvider } from './token.js';

/**
 * One organisation's path to the PCM: its credential, its token, and `maxConcurrentBatches` workers that lease the
 * oldest pending rows, POST them, and record the answer. Rows leave the spool's pending set only by lease, and come
 * back to it on any failure — a batch is never dropped.
 */

export interface LaneOptions {
  apiUrl: string;
  authUrl: string;
  caFile: string | undefined;
  reportPath: string;
  maxBatchSize: number;
  maxBatchBytes: number;
  maxBatchDelayMs: number;
  maxConcurrentBatches: number;
  exportTimeoutMs: number;
  connectTimeoutMs: number;
  retryInitialDelayMs: number;
  retryMaxDelayMs: number;
  tokenRequestFormat: 'json' | 'form';
  tokenRefreshMarginMs: number;
  tokenTimeoutMs: number;
  credentialRetryMs: number;
}

export interface LaneStatus {
  lane: string;
  orgId: string;
  stream: Stream;
  ready: boolean;
  credentialError: string | null;
  lastError: string | null;
  batchesSent: number;
  reportsAccepted: number;
  reportsDiscarded: number;
  tokensFetched: number;
  retries: number;
}

interface Transport {
  tokens: TokenProvider;
  client: ReportClient;
}

/** Wakes sleeping workers when new rows arrive. */
class Wakeup {
  private waiters: (() => void)[] = [];
  fire(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
  wait(ms: number, signal: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const onStop = (): void => controller.abort();
    signal.addEventListener('abort', onStop, { once: true });
    this.waiters.push(onStop);
    return sleep(ms, controller.signal).finally(() => signal.removeEventListener('abort', onStop));
  }
}

export class OrgLane {
  readonly orgId: string;
  readonly lane: string;
  private transport: Transport | null = null;
  private credentialError: string | null = null;
  private lastError: string | null = null;
  private counters = { batchesSent: 0, reportsAccepted: 0, reportsDiscarded: 0, retries: 0 };
  private estimate: PendingSummary = { count: 0, bytes: 0, oldestCreatedAt: null };
  private readonly wakeup = new Wakeup();
  /** Stops leasing and waiting. */
  private readonly stopping = new AbortController();
  /** Aborts requests in flight once the shutdown grace has passed. */
  private readonly aborting = new AbortController();
  private workers: Promise<void>[] = [];

  constructor(
    private readonly organisation: Organisation,
    private readonly index: number,
    readonly stream: Stream,
    private readonly spool: Spool,
    private readonly options: LaneOptions,
    private readonly log: Logger,
  ) {
    this.orgId = organisation.orgId.toLowerCase();
    this.lane = laneOf(stream, this.orgId);
  }

  /** Loads the credential now so a bad certificate is reported at start; the lane retries it until it works. */
  start(): void {
    this.ensureTransport();
    this.refreshEstimate();
    for (let i = 0; i < this.options.maxConcurrentBatches; i++) this.workers.push(this.work());
  }

  notify(added: AddedRows): void {
    this.estimate.count += added.rows;
    this.estimate.bytes += added.bytes;
    this.estimate.oldestCreatedAt ??= Date.now();
    this.wakeup.fire();
  }

  status(): LaneStatus {
    return {
      lane: this.lane,
      orgId: this.orgId,
      stream: this.stream,
      ready: this.transport !== null,
      credentialError: this.credentialError,
      lastError: this.lastError,
      tokensFetched: this.transport?.tokens.fetched ?? 0,
      ...this.counters,
    };
  }

  /** Stops leasing; lets batches in flight finish for up to `graceMs`, then aborts them and returns their rows. */
  async stop(graceMs: number): Promise<void> {
    this.stopping.abort();
    const timer = setTimeout(() => this.aborting.abort(), graceMs);
    await Promise.all(this.workers);
    clearTimeout(timer);
    if (this.transport) await Promise.all([this.transport.client.close(), this.transport.tokens.close()]);
  }

  private ensureTransport(): Transport | null {
    if (this.transport) return this.transport;
    try {
      const ca = loadCa(this.options.caFile);
      const credential = loadClientCredential(this.organisation, this.index);
      const o = this.options;
      this.transport = {
        tokens: new TokenProvider(credential, {
          authUrl: o.authUrl,
          requestFormat: o.tokenRequestFormat,
          refreshMarginMs: o.tokenRefreshMarginMs,
          timeoutMs: o.tokenTimeoutMs,
          connectTimeoutMs: o.connectTimeoutMs,
          ca,
        }),
        client: new ReportClient({
          apiUrl: o.apiUrl,
          path: o.reportPath,
          exportTimeoutMs: o.exportTimeoutMs,
          connectTimeoutMs: o.connectTimeoutMs,
          ca,
        }),
      };
      if (this.credentialError) this.log.info({ lane: this.lane }, 'credential is usable now; sending resumes');
      this.credentialError = null;
      return this.transport;
    } catch (err) {
      if (!(err instanceof CredentialError)) throw err;
      if (this.credentialError !== err.message) {
        this.log.error(
          { lane: this.lane, code: err.code, setting: err.setting },
          `cannot send reports for ${this.orgId}: ${err.message}. Reports are still spooled; retrying every ${this.options.credentialRetryMs} ms`,
        );
      }
      this.credentialError = err.message;
      return null;
    }
  }

  private refreshEstimate(): void {
    this.estimate = this.spool.pending(this.lane, this.options.maxBatchSize);
  }

  /** 0: send now; a positive number: wait that long for the batch to fill; Infinity: nothing to send. */
  private batchWait(): number {
    const { count, bytes, oldestCreatedAt } = this.estimate;
    if (count === 0 || oldestCreatedAt === null) return Number.POSITIVE_INFINITY;
    if (count >= this.options.maxBatchSize || bytes >= this.options.maxBatchBytes) return 0;
    return Math.max(0, oldestCreatedAt + this.options.maxBatchDelayMs - Date.now());
  }

  private async work(): Promise<void> {
    // Leasing is synchronous database work: let start() return before the first one.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      try {
        await this.step(stop);
      } catch (err) {
        // A database error (busy, I/O) must not end the worker: leased rows stay leased and are retried by deliver,
        // anything else waits and tries again.
        this.lastError = errorMessage(err);
        this.log.error({ lane: this.lane, err: this.lastError }, 'sender worker failed; retrying');
        await sleep(this.options.credentialRetryMs, stop);
      }
    }
  }

  private async step(stop: AbortSignal): Promise<void> {
    const transport = this.ensureTransport();
    if (!transport) {
      await sleep(this.options.credentialRetryMs, stop);
      return;
    }
    const wait = this.batchWait();
    if (wait > 0) {
      // An idle lane re-reads the spool now and then, so an estimate that drifted cannot stall it.
      await this.wakeup.wait(Math.min(wait, 5000), stop);
      if (wait === Number.POSITIVE_INFINITY) this.refreshEstimate();
      return;
    }
    const batch = this.spool.lease(this.lane, this.options.maxBatchSize, this.options.maxBatchBytes);
    if (!batch) return this.refreshEstimate();
    try {
      this.refreshEstimate();
    } finally {
      await this.deliver(transport, batch.rows);
    }
  }

  /** Delivers `rows` (already leased), retrying until the PCM answers 200/207 or the lane stops. */
  private async deliver(transport: Transport, rows: LeasedRow[]): Promise<void> {
    const body = `[${rows.map((r) => r.body).join(',')}]`;
    let attempt = 0;
    let refreshedAfter401 = false;
    let lastError: string | null = null;
    for (;;) {
      if (this.stopping.signal.aborted && (attempt > 0 || this.aborting.signal.aborted)) {
        this.spool.release(
          rows.map((r) => r.id),
          lastError ?? 'released at shutdown',
        );
        return;
      }
      try {
        const token = await transport.tokens.get();
        const answer = await transport.client.send(body, rows.length, token, this.aborting.signal);
        if (answer.kind === 'results') {
          this.record(rows, answer.items);
          return;
        }
        if (answer.kind === 'unauthorized') {
          if (!refreshedAfter401) {
            refreshedAfter401 = true;
            transport.tokens.invalidate(token);
            this.log.info({ lane: this.lane }, 'report API answered 401; fetching a new token once');
            continue;
          }
          throw new TokenError('report API refused a freshly issued token (401)', true, 401);
        }
        // 413: halve the batch until it fits. A single report the PCM finds too large stays and is retried.
        if (rows.length > 1) {
          const half = Math.ceil(rows.length / 2);
          this.log.warn({ lane: this.lane, rows: rows.length }, 'report API answered 413; splitting the batch');
          await this.deliver(transport, rows.slice(0, half));
          await this.deliver(transport, rows.slice(half));
          return;
        }
        throw new DeliveryError('PCM_DELIVERY_TOO_LARGE', 'report API answered 413 for a single report', 413);
      } catch (err) {
        lastError = errorMessage(err);
        this.lastError = lastError;
        attempt++;
        this.counters.retries++;
        if (this.stopping.signal.aborted) continue;
        const retryAfter = (err as { retryAfterMs?: number }).retryAfterMs;
        let delay = backoffDelay(attempt, this.options.retryInitialDelayMs, this.options.retryMaxDelayMs, retryAfter);
        if (err instanceof TokenError && !err.retryable) delay = Math.max(delay, this.options.credentialRetryMs);
        this.log.warn({ lane: this.lane, rows: rows.length, attempt, delayMs: delay, err: lastError }, 'batch not delivered; will retry');
        await sleep(delay, this.stopping.signal);
      }
    }
  }

  private record(rows: LeasedRow[], items: { status: 'ACCEPTED' | 'DISCARDED'; reportId: string | null; message: string | null }[]): void {
    const results: RowResult[] = rows.map((row, i) => {
      const item = items[i] as (typeof items)[number];
      return {
        id: row.id,
        state: item.status === 'ACCEPTED' ? 'accepted' : 'discarded',
        reportId: item.reportId,
        message: item.message,
      };
    });
    this.spool.complete(results);
    const discarded = results.filter((r) => r.state === 'discarded').length;
    this.counters.batchesSent++;
    this.counters.reportsAccepted += results.length - discarded;
    this.counters.reportsDiscarded += discarded;
    if (discarded > 0) {
      this.log.warn({ lane: this.lane, discarded, first: results.find((r) => r.state === 'discarded')?.message }, 'PCM discarded reports');
    }
  }
}
