import type { Logger } from 'pino';
import type { Organisation } from '../config/schema.js';
import { CredentialError, DeliveryError, ForwardRefusedError, RateWaitAbortedError, TokenError, errorMessage } from '../errors.js';
import { laneOf, type AddedRows, type DeadLetterReason, type LeasedRow, type PendingSummary, type RowResult, type Spool, type Stream } from '../spool/spool.js';
import { existsSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { backoffDelay, sleep } from './backoff.js';
import { loadCa, loadClientCredential } from './credentials.js';
import { forwardTransport, type ForwardTarget } from './forward.js';
import type { BatchPost, BatchPostObserver } from './post-batch.js';
import type { RateBudget } from './rate-budget.js';
import { LaneReadiness, type ReadinessChange, type ReadinessView } from './readiness.js';
import { ReportClient } from './report-client.js';
import { TokenProvider } from './token.js';

/**
 * One organisation's path to the PCM: its credential, its token, and `maxConcurrentBatches` workers that lease the
 * oldest pending rows, POST them, and record the answer. Rows leave the spool's pending set only by lease, and come
 * back to it on every failure — a batch is never dropped. Every call (POST or token request) waits for a permit of the
 * process's one RateBudget, shared by all lanes; the retry backoff below comes on top of it. On an agent the far
 * end is its aggregator (forward.ts), and the budget is not used: it is the PCM's limit.
 */

/**
 * The PCM refused what was sent (400, 413, 422): waiting will not fix it, halving the batch finds the report that
 * caused it. Other 4xx answers are about the request, not its reports (401/403 credentials and permissions, 404
 * the URL, 406/415 headers, 408, 429): held and retried, never dead-lettered — the lane's readiness says why.
 */
const CONTENT_REFUSALS = new Set([400, 413, 422]);

/** After a lease that found nothing to send while the estimate said otherwise: the pause before the next one. */
const NOTHING_LEASED_PAUSE_MS = 10;

function isRefusal(err: unknown): boolean {
  return err instanceof DeliveryError && err.status !== undefined && CONTENT_REFUSALS.has(err.status);
}

export interface LaneOptions {
  apiUrl: string;
  authUrl: string;
  caFile: string | undefined;
  reportPath: string;
  maxBatchSize: number;
  maxBatchBytes: number;
  maxBatchDelayMs: number;
  maxConcurrentBatches: number;
  laneStallMs: number;
  exportTimeoutMs: number;
  connectTimeoutMs: number;
  retryInitialDelayMs: number;
  retryMaxDelayMs: number;
  maxRefusals: number;
  tokenRequestFormat: 'json' | 'form';
  tokenRefreshMarginMs: number;
  tokenTimeoutMs: number;
  credentialRetryMs: number;
  /** Told of each batch with ACCEPTED reports once its answer is in the spool; must be quick and must not throw. */
  onAccepted?: AcceptedHook | undefined;
  /** Set on an agent: deliver to this aggregator instead of the PCM, with no organisation certificate (forward.ts). */
  forward?: ForwardTarget | undefined;
  /** The PCM's age limit (rules.maxAgeMs): a report of a batch still being retried past it is not sent. */
  maxAgeMs?: number | undefined;
}

/** A batch the PCM answered, as the lane recorded it: for observers above the sender (reconciliation). */
export interface AcceptedBatch {
  lane: string;
  orgId: string;
  stream: Stream;
  rows: readonly LeasedRow[];
  /** One per row, in order: ACCEPTED rows carry the PCM's reportId. */
  results: readonly RowResult[];
}
export type AcceptedHook = (batch: AcceptedBatch) => void;

/** An organisation's bearer token for other calls made on its behalf (reconciliation GETs), shared with its lane. */
export interface TokenSource {
  token(signal?: AbortSignal): Promise<string>;
  /** The PCM refused `token`: the next request fetches another. */
  invalidateToken(token: string): void;
}

export interface LaneStatus extends ReadinessView {
  lane: string;
  orgId: string;
  stream: Stream;
  credentialError: string | null;
  lastError: string | null;
  batchesSent: number;
  reportsAccepted: number;
  reportsDiscarded: number;
  tokensFetched: number;
  /** Seconds until the token in use expires; null without one. */
  tokenExpiresInSeconds: number | null;
  retries: number;
  /** Reports by the far end's own answer in a 200/207 (ACCEPTED, DISCARDED; an aggregator's refused items are discarded). */
  /** Per report, the far end's answer: accepted, discarded (DISCARDED in a 200/207), refused (alone in a refused request). */
  answered: { accepted: number; discarded: number; refused: number };
}

/** Reports of one lane that will not be sent again, as recorded after a PCM answer or a refusal. */
export interface DiscardedReports {
  lane: string;
  orgId: string;
  reason: DeadLetterReason;
  /** The first one's message (the PCM's, or why the sender stopped). */
  message: string | null;
  /** Their stored JSON, in order. */
  bodies: readonly string[];
}

/** One POST of a lane's batch (to the PCM or an aggregator), as the metrics count and time it. */
export interface LanePost extends BatchPost {
  orgId: string;
  stream: Stream;
}

/** Listeners the sidecar wires (alerts, metrics); the sender works the same without them. */
export interface LaneHooks {
  onDiscarded?: (discarded: DiscardedReports) => void;
  onReadinessChange?: (change: ReadinessChange) => void;
  /** Told of every batch POST once it is over, answered or not; must be quick and must not throw. */
  onPosted?: (post: LanePost) => void;
}

/** The PCM's token and report API, or an aggregator's (forward.ts) in the same shape. */
interface Transport {
  tokens: Pick<TokenProvider, 'get' | 'invalidate' | 'close' | 'expiresAt' | 'fetched'>;
  client: Pick<ReportClient, 'send' | 'close'>;
}

/** Wakes sleeping workers when new rows arrive. */
class Wakeup {
  private readonly waiters = new Set<() => void>();
  fire(): void {
    for (const wake of [...this.waiters]) wake();
  }
  wait(ms: number, signal: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const onStop = (): void => controller.abort();
    signal.addEventListener('abort', onStop, { once: true });
    this.waiters.add(onStop);
    return sleep(ms, controller.signal).finally(() => {
      // Each wait removes itself: an idle lane waits thousands of times a day.
      this.waiters.delete(onStop);
      signal.removeEventListener('abort', onStop);
    });
  }
}

export class OrgLane implements TokenSource {
  readonly orgId: string;
  readonly lane: string;
  private transport: Transport | null = null;
  private loadedStamp = '';
  private nextCredentialCheck = 0;
  private credentialError: string | null = null;
  private lastError: string | null = null;
  private counters = { batchesSent: 0, reportsAccepted: 0, reportsDiscarded: 0, retries: 0 };
  private readonly answered = { accepted: 0, discarded: 0, refused: 0 };
  private estimate: PendingSummary = { count: 0, bytes: 0, oldestCreatedAt: null };
  private readonly wakeup = new Wakeup();
  /** Stops leasing and waiting. */
  private readonly stopping = new AbortController();
  /** Aborts requests in flight once the shutdown grace has passed. */
  private readonly aborting = new AbortController();
  private workers: Promise<void>[] = [];
  private readonly readiness: LaneReadiness;
  private readonly posted: BatchPostObserver | undefined;

  constructor(
    private readonly organisation: Organisation,
    private readonly index: number,
    readonly stream: Stream,
    private readonly spool: Spool,
    private readonly options: LaneOptions,
    private readonly budget: RateBudget,
    private readonly log: Logger,
    private readonly hooks: LaneHooks = {},
  ) {
    this.orgId = organisation.orgId.toLowerCase();
    this.lane = laneOf(stream, this.orgId);
    const onPosted = hooks.onPosted;
    this.posted = onPosted && ((post) => onPosted({ ...post, orgId: this.orgId, stream }));
    this.readiness = new LaneReadiness(this.lane, options.laneStallMs, () => spool.oldestUndelivered(this.lane), log, Date.now, hooks.onReadinessChange);
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
    const expiresAt = this.transport?.tokens.expiresAt ?? null;
    return {
      lane: this.lane,
      orgId: this.orgId,
      stream: this.stream,
      ...this.readiness.view(this.lastError),
      credentialError: this.credentialError,
      lastError: this.lastError,
      tokensFetched: this.transport?.tokens.fetched ?? 0,
      tokenExpiresInSeconds: expiresAt === null ? null : Math.max(0, (expiresAt - Date.now()) / 1000),
      ...this.counters,
      answered: { ...this.answered },
    };
  }

  /** The token the lane's own POSTs use (fetched if needed; a token request spends a budget permit). */
  async token(signal?: AbortSignal): Promise<string> {
    const transport = this.ensureTransport();
    if (!transport) throw new TokenError(`no usable credential: ${this.credentialError ?? 'unknown'}`, false);
    return transport.tokens.get(signal);
  }

  invalidateToken(token: string): void {
    this.transport?.tokens.invalidate(token);
  }

  /** Stops leasing; lets batches in flight finish for up to `graceMs`, then aborts them and returns their rows. */
  async stop(graceMs: number): Promise<void> {
    this.stopping.abort();
    const timer = setTimeout(() => this.aborting.abort(), graceMs);
    await Promise.all(this.workers);
    clearTimeout(timer);
    if (this.transport) await Promise.all([this.transport.client.close(), this.transport.tokens.close()]);
  }

  /** Modification times of the credential files, to notice a rotated certificate without a restart. */
  private credentialStamp(): string {
    const forward = this.options.forward;
    const files = (
      forward ? [forward.tokenFile, forward.certFile, forward.keyFile, forward.caFile] : [this.organisation.certFile, this.organisation.keyFile, this.options.caFile]
    ).filter((f): f is string => !!f);
    return files.map((f) => (existsSync(f) ? statSync(f).mtimeMs : 'missing')).join('|');
  }

  private ensureTransport(): Transport | null {
    if (this.transport && Date.now() >= this.nextCredentialCheck) {
      this.nextCredentialCheck = Date.now() + this.options.credentialRetryMs;
      if (this.credentialStamp() !== this.loadedStamp) {
        this.log.info({ lane: this.lane }, 'certificate or key files changed; loading them again');
        const old = this.transport;
        this.transport = null;
        // Requests already under way on the old connections get time to finish.
        setTimeout(() => void Promise.all([old.client.close(), old.tokens.close()]).catch(() => undefined), 30_000).unref();
      }
    }
    if (this.transport) return this.transport;
    try {
      this.loadedStamp = this.credentialStamp();
      this.nextCredentialCheck = Date.now() + this.options.credentialRetryMs;
      this.transport = this.options.forward ? forwardTransport(this.options.forward, this.orgId, { ...this.options, onPosted: this.posted }) : this.pcmTransport();
      if (this.credentialError) this.log.info({ lane: this.lane }, 'credential is usable now; sending resumes');
      this.credentialError = null;
      this.readiness.credentialUnusable(null);
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
      this.readiness.credentialUnusable(err.message);
      return null;
    }
  }

  /** The organisation's token over mTLS and the PCM's report API. */
  private pcmTransport(): Transport {
    const ca = loadCa(this.options.caFile);
    const credential = loadClientCredential(this.organisation, this.index);
    const o = this.options;
    return {
      tokens: new TokenProvider(credential, {
        authUrl: o.authUrl,
        requestFormat: o.tokenRequestFormat,
        refreshMarginMs: o.tokenRefreshMarginMs,
        timeoutMs: o.tokenTimeoutMs,
        connectTimeoutMs: o.connectTimeoutMs,
        ca,
        onRefresh: (outcome) => this.readiness.tokenRefresh(outcome, credential.clientId),
        budget: this.budget,
        log: this.log.child({ lane: this.lane }),
      }),
      client: new ReportClient({
        apiUrl: o.apiUrl,
        path: o.reportPath,
        exportTimeoutMs: o.exportTimeoutMs,
        connectTimeoutMs: o.connectTimeoutMs,
        ca,
        budget: this.budget,
        onPosted: this.posted,
      }),
    };
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
        // A database error (busy, I/O) must not end the worker: it logs, waits and tries again. Rows it had
        // leased stay in flight until the next start returns them to pending.
        this.lastError = errorMessage(err);
        this.log.error({ lane: this.lane, err: this.lastError }, 'sender worker failed; retrying');
        await sleep(this.options.credentialRetryMs, stop);
      }
    }
  }

  private async step(stop: AbortSignal): Promise<void> {
    if (!this.ensureTransport()) {
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
    if (!batch) {
      this.refreshEstimate();
      // Nothing leased while rows wait (a long run of too-old ones dead-lettered page by page, a stopped writer):
      // a pause before the next try, or the event loop would be held for the whole run.
      await sleep(NOTHING_LEASED_PAUSE_MS, stop);
      return;
    }
    try {
      this.refreshEstimate();
    } finally {
      // The lease in the file first: after a crash, what was sent is what comes back as recovered.
      await batch.recorded;
      await this.deliver(batch.rows);
    }
  }

  /**
   * Delivers `rows` (already leased), retrying until the PCM answers 200/207 or the lane stops.
   * A batch the PCM keeps refusing (400 or 422 repeated, or 413 for one report) is split until the
   * refused report stands alone; that report is then recorded as discarded with the PCM's answer — a dead letter
   * kept in the spool — so it cannot hold back every report behind it.
   */
  private async deliver(leased: LeasedRow[]): Promise<void> {
    const startedAt = performance.now();
    let rows = leased;
    let body = `[${rows.map((r) => r.body).join(',')}]`;
    let attempt = 0;
    let refusals = 0;
    let lastError: string | null = null;
    for (;;) {
      if (this.stopping.signal.aborted && (attempt > 0 || this.aborting.signal.aborted)) {
        this.spool.release(rows.map((r) => r.id));
        return;
      }
      // Waited (retries, a half of a split batch) long enough for some reports to pass the PCM's age limit: those are
      // dead letters, the rest goes on with the same backoff and refusal count.
      const maxAge = this.options.maxAgeMs;
      if (maxAge !== undefined) {
        const oldest = Date.now() - maxAge;
        const expired = rows.filter((r) => r.at < oldest);
        if (expired.length > 0) {
          const message = `Not sent: older than ${Math.round(maxAge / 3_600_000)} h (the PCM's age limit) while its batch waited to be delivered`;
          await this.record(expired, expired.map(() => ({ status: 'DISCARDED' as const, reportId: null, message })), 'too-old');
          rows = rows.filter((r) => r.at >= oldest);
          if (rows.length === 0) return;
          body = `[${rows.map((r) => r.body).join(',')}]`;
        }
      }
      try {
        // The transport of this moment: a rotated certificate takes effect on the next attempt.
        const transport = this.ensureTransport();
        if (!transport) throw new TokenError(`no usable credential: ${this.credentialError ?? 'unknown'}`, false);
        // The token before the report's permit: a token request spends a permit of its own, one interval earlier.
        const token = await transport.tokens.get(this.aborting.signal);
        if (this.log.isLevelEnabled('trace')) {
          // Spool row ids: which rows this attempt carries, to follow a batch through retries and splits.
          this.log.trace(
            { lane: this.lane, reports: rows.length, bytes: Buffer.byteLength(body), firstId: rows[0]?.id, lastId: rows[rows.length - 1]?.id, attempt: attempt + 1 },
            'batch: sending',
          );
        }
        const answer = await transport.client.send(body, rows.length, token, this.aborting.signal);
        if (answer.kind === 'results') {
          this.readiness.answered();
          // An aggregator refusing an item is not the PCM answering DISCARDED: a dead letter of reason refused.
          await this.record(rows, answer.items, this.options.forward ? 'refused' : 'pcm');
          const discarded = answer.items.filter((item) => item.status === 'DISCARDED');
          this.answered.accepted += rows.length - discarded.length;
          this.answered.discarded += discarded.length;
          // One line per batch answered: what operators grep for first.
          this.log.info(
            {
              lane: this.lane,
              reports: rows.length,
              status: answer.status,
              accepted: rows.length - discarded.length,
              discarded: discarded.length,
              attempts: attempt + 1,
              ms: Math.round(performance.now() - startedAt),
              ...(discarded[0] ? { firstMessage: discarded[0].message } : {}),
            },
            'batch answered',
          );
          return;
        }
        if (answer.kind === 'unauthorized') {
          // Every 401 drops the token; the provider asks for a fresh one if the PCM hands back the same.
          transport.tokens.invalidate(token);
          if (attempt === 0) {
            attempt++;
            this.log.info({ lane: this.lane }, 'report API answered 401; fetching a new token');
            continue;
          }
          throw new TokenError('report API answered 401 again after a new token', true, 401);
        }
        throw new DeliveryError('PCM_DELIVERY_TOO_LARGE', 'report API answered 413', 413);
      } catch (err) {
        // The grace is over while waiting for a permit: nothing was sent, the loop's first check releases the rows.
        if (err instanceof RateWaitAbortedError) continue;
        lastError = errorMessage(err);
        this.lastError = lastError;
        if (err instanceof ForwardRefusedError) this.readiness.forbiddenBy(lastError, 'PCM_FORWARD_REFUSED');
        else if (err instanceof DeliveryError && err.status === 403) this.readiness.forbiddenBy(lastError);
        attempt++;
        this.counters.retries++;
        if (this.stopping.signal.aborted) continue;
        if (isRefusal(err) && (++refusals >= this.options.maxRefusals || (err as DeliveryError).status === 413)) {
          return this.isolate(rows, lastError);
        }
        const retryAfter = (err as { retryAfterMs?: number }).retryAfterMs;
        let delay = backoffDelay(attempt, this.options.retryInitialDelayMs, this.options.retryMaxDelayMs, retryAfter);
        if (err instanceof TokenError && !err.retryable) delay = Math.max(delay, this.options.credentialRetryMs);
        this.log.warn({ lane: this.lane, rows: rows.length, attempt, delayMs: delay, err: lastError }, 'batch not delivered; will retry');
        await sleep(delay, this.stopping.signal);
      }
    }
  }

  /** Halves a refused batch; a single refused report becomes a dead letter (discarded, with the PCM's answer). */
  private async isolate(rows: LeasedRow[], reason: string): Promise<void> {
    if (rows.length > 1) {
      const half = Math.ceil(rows.length / 2);
      this.log.warn({ lane: this.lane, rows: rows.length, err: reason }, 'the PCM refuses this batch; splitting it to find the report it refuses');
      await this.deliver(rows.slice(0, half));
      await this.deliver(rows.slice(half));
      return;
    }
    this.answered.refused += rows.length;
    const message = `Refused by ${this.options.forward ? 'the aggregator' : 'the PCM'}, not sent again: ${reason}`;
    this.log.error({ lane: this.lane, rowId: rows[0]?.id, err: reason }, 'the PCM refuses a single report; recorded as discarded');
    await this.record(rows, [{ status: 'DISCARDED', reportId: null, message }], 'refused');
  }

  /**
   * Records the PCM's answer per row. A failing local write is retried on its own: the answer is kept in memory,
   * the batch is not sent again (that would be a duplicate at the PCM for every failed attempt).
   */
  private async record(
    rows: LeasedRow[],
    items: { status: 'ACCEPTED' | 'DISCARDED'; reportId: string | null; message: string | null }[],
    reason: DeadLetterReason = 'pcm',
  ): Promise<void> {
    const results: RowResult[] = rows.map((row, i) => {
      const item = items[i] as (typeof items)[number];
      return {
        id: row.id,
        state: item.status === 'ACCEPTED' ? 'accepted' : 'discarded',
        reportId: item.reportId,
        message: item.message,
        at: row.at,
        endpoint: row.endpoint,
        reason,
      };
    });
    for (let attempt = 1; ; attempt++) {
      try {
        this.spool.complete(results);
        break;
      } catch (err) {
        this.lastError = `recording the PCM's answer failed: ${errorMessage(err)}`;
        // Stopping now leaves the rows in flight: the next start sends them again, the only way left.
        if (this.stopping.signal.aborted) return;
        const delay = backoffDelay(attempt, this.options.retryInitialDelayMs, this.options.retryMaxDelayMs);
        this.log.error({ lane: this.lane, rows: rows.length, delayMs: delay, err: this.lastError }, 'cannot record delivered reports; retrying the write');
        await sleep(delay, this.stopping.signal);
      }
    }
    this.readiness.progressed();
    const discarded = results.filter((r) => r.state === 'discarded').length;
    this.counters.batchesSent++;
    this.counters.reportsAccepted += results.length - discarded;
    this.counters.reportsDiscarded += discarded;
    if (discarded > 0) {
      const first = results.find((r) => r.state === 'discarded')?.message ?? null;
      this.log.warn({ lane: this.lane, discarded, first }, 'PCM discarded reports');
      const bodies = rows.filter((_, i) => results[i]?.state === 'discarded').map((r) => r.body);
      try {
        this.hooks.onDiscarded?.({ lane: this.lane, orgId: this.orgId, reason, message: first, bodies });
      } catch (err) {
        this.log.error({ lane: this.lane, err: errorMessage(err) }, 'the discarded-reports listener failed');
      }
    }
    if (this.options.onAccepted && discarded < results.length) {
      try {
        this.options.onAccepted({ lane: this.lane, orgId: this.orgId, stream: this.stream, rows, results });
      } catch (err) {
        // An observer's failure is its own: delivery goes on.
        this.log.warn({ lane: this.lane, err: errorMessage(err) }, 'an observer of accepted reports failed');
      }
    }
  }
}
