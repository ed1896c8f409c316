import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { RateWaitAbortedError, ReconcileError, errorMessage } from '../errors.js';
import type { AcceptedBatch, TokenSource } from '../sender/lane.js';
import { systemClock, type RateBudget, type RateClock } from '../sender/rate-budget.js';
import { brtDay } from '../spool/days.js';
import { reportFacts } from './extract.js';
import { RateShare } from './rate-share.js';
import { ReportStatusClient, type StatusAnswer } from './report-status-client.js';
import { Sampler } from './sampler.js';
import { RECORDED_STATUSES, isAskedAgain, type DivergentStatus, type RecordedStatus } from './status.js';
import { ReconcileStore, type DivergentQuery, type DivergentReport, type DueEntry } from './store.js';
import { dayFigures, type DayFigures } from './summary.js';
import { pageOf } from '../paging.js';

/**
 * Reconciliation (pcm-rules.md §9): for a sample of the private reports the PCM accepted, ask it later what became of
 * each (`GET /report-api/v1/private/report/{fapiInteractionId}` with the lane's token) and keep the answers per day
 * and endpoint. Opendata reports are never asked: they carry no fapiInteractionId and cannot be paired (§9.3).
 *
 * - The sender tells `accepted()` of each recorded batch: the sample is decided first (O(1) per batch), and only the
 *   reports taken are parsed for their fapiInteractionId and endpoint.
 * - First ask `delayMs` after acceptance; UNPAIRED (and ACCEPTED, NOT_FOUND) asked again every `retryMs` while the
 *   next ask is within `stopAfterMs` of the report's timestamp; a failed GET again after `errorRetryMs`.
 * - Every GET takes a permit of RateShare (at most `share` of the budget) and then of the process's RateBudget.
 */

export type RequestResult = 'ok' | 'not_found' | 'unauthorized' | 'throttled' | 'error';
export const REQUEST_RESULTS: readonly RequestResult[] = ['ok', 'not_found', 'unauthorized', 'throttled', 'error'];

export interface ReconcilerOptions {
  settings: Config['reconcile'];
  /** The reconciliation file (reconcilePathOf). */
  path: string;
  apiUrl: string;
  caFile: string | undefined;
  connectTimeoutMs: number;
}

export interface StatusClient {
  ask(fapiInteractionId: string, token: string, signal?: AbortSignal): Promise<StatusAnswer>;
  close(): Promise<void>;
}

/** A divergent answer, told to the floor above (alerts: REPORT.UNPAIRED, REPORT.PAIRED_INCONSISTENT). */
export interface DivergentAnswer {
  kind: 'UNPAIRED' | 'PAIRED_INCONSISTENT';
  lane: string;
  fapiInteractionId: string;
  /** For PAIRED_INCONSISTENT, the fields the answer names as differing. */
  differing: readonly string[] | null;
}

export interface ReconcilerDeps {
  /**
   * Told each PAIRED_INCONSISTENT answer, and UNPAIRED when a report becomes so (asked again later, it may still
   * pair; telling every re-ask would repeat the same news every 6 hours).
   */
  onDivergent?: (answer: DivergentAnswer) => void;
  /** The process's one rate budget (the sender's). */
  budget: RateBudget;
  /** The token of a lane's organisation (Sender.tokenSource). */
  tokens: (lane: string) => TokenSource | undefined;
  log: Logger;
  clock?: RateClock;
  random?: () => number;
  /** Replaces the HTTP client (unit tests). */
  client?: StatusClient;
}

export interface ReconciliationStatus {
  enabled: true;
  path: string;
  movedAside: string | null;
  /** Share of the rate budget reconciliation may use, and the GETs per second that is now. */
  share: number;
  requestsPerSecond: number;
  /** Probability with which an accepted private report is taken now. */
  sampleRate: number;
  /** Accepted private reports per second, as the sampler estimates them. */
  acceptedPerSecond: number;
  entries: number;
  maxEntries: number;
  /** Reports waiting for their first ask, and for another. */
  pending: { first: number; again: number };
  /** Since start: GETs by result, and answers recorded by status. */
  requests: Record<RequestResult, number>;
  answers: Record<RecordedStatus, number>;
  lastError: string | null;
  days: DayFigures[];
  /** The last divergent reports answered (GET /v1/reconciliation pages through all of them). */
  divergent: DivergentReport[];
}

/** What /v1/status shows when the sidecar runs without reconciliation. */
export interface ReconciliationOff {
  enabled: false;
  reason: string;
}

export class Reconciler {
  readonly store: ReconcileStore;

  /**
   * A reconciler, or null (logged) when its file cannot be opened at all (permissions, a directory in the way):
   * reporting does not depend on reconciliation, so the sidecar starts without it.
   */
  static open(options: ReconcilerOptions, deps: ReconcilerDeps): Reconciler | ReconciliationOff {
    try {
      return new Reconciler(options, deps);
    } catch (err) {
      const error = new ReconcileError('PCM_RECONCILE_STORE_UNAVAILABLE', `cannot open the reconciliation file ${options.path}: ${errorMessage(err)}`, undefined, undefined, { cause: err });
      deps.log.error({ code: error.code, path: options.path }, `${error.message}; the sidecar runs without reconciliation (PCM_RECONCILE_PATH)`);
      return { enabled: false, reason: error.message };
    }
  }

  private readonly settings: Config['reconcile'];
  private readonly clock: RateClock;
  private readonly share: RateShare;
  private readonly sampler: Sampler;
  private readonly client: StatusClient;
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  /** Cuts the main loop's sleep short when a flush adds an entry due sooner. */
  private wake: AbortController | null = null;
  private sleepingUntil = Number.POSITIVE_INFINITY;
  private nextTick: number;
  private loops: Promise<void>[] = [];
  private full = false;
  private closed = false;
  private lastError: string | null = null;
  private readonly requests = Object.fromEntries(REQUEST_RESULTS.map((r) => [r, 0])) as Record<RequestResult, number>;
  private readonly answers = Object.fromEntries(RECORDED_STATUSES.map((s) => [s, 0])) as Record<RecordedStatus, number>;

  constructor(
    options: ReconcilerOptions,
    private readonly deps: ReconcilerDeps,
  ) {
    const { settings } = options;
    this.settings = settings;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log;
    this.store = new ReconcileStore(options.path);
    if (this.store.movedAside) {
      this.log.error(
        { movedTo: this.store.movedAside, code: 'PCM_RECONCILE_STORE_UNREADABLE' satisfies ReconcileError['code'] },
        'the reconciliation file could not be read; it was moved aside and reconciliation starts anew (its figures are estimates; no report is affected)',
      );
    }
    this.share = new RateShare(deps.budget, settings.share, this.clock);
    const now = this.clock.now();
    this.sampler = new Sampler(
      {
        reaskReserve: settings.reaskReserve,
        intervalMs: settings.sampleIntervalMs,
        // A large budget would fill the store in hours and sample nothing for days: the bound is spread over them.
        maxPerSecond: settings.maxEntries / (settings.retainMs / 1000),
        ...(deps.random ? { random: deps.random } : {}),
      },
      now,
      this.share.rate(),
    );
    this.nextTick = now + settings.sampleIntervalMs;
    this.client =
      deps.client ??
      new ReportStatusClient({ apiUrl: options.apiUrl, caFile: options.caFile, timeoutMs: settings.timeoutMs, connectTimeoutMs: options.connectTimeoutMs, budget: deps.budget });
  }

  /** The sender's hook: samples a recorded batch's ACCEPTED private reports. Cheap for the reports it does not take. */
  accepted(batch: AcceptedBatch): void {
    if (batch.stream !== 'private' || this.closed) return;
    const { rows, results } = batch;
    let accepted = 0;
    let day = Number.NaN;
    let ofDay = 0;
    for (let i = 0; i < results.length; i++) {
      const result = results[i] as (typeof results)[number];
      if (result.state !== 'accepted') continue;
      accepted++;
      const d = brtDay(result.at ?? (rows[i] as (typeof rows)[number]).at);
      if (d !== day) {
        if (ofDay > 0) this.store.consider(day, ofDay);
        day = d;
        ofDay = 0;
      }
      ofDay++;
    }
    if (ofDay > 0) this.store.consider(day, ofDay);
    if (accepted === 0) return;
    if (this.store.size >= this.settings.maxEntries) {
      this.sampler.observe(accepted);
      if (!this.full) this.log.warn({ maxEntries: this.settings.maxEntries }, 'reconciliation follows as many reports as it may (PCM_RECONCILE_MAX_ENTRIES); sampling pauses until old days are pruned');
      this.full = true;
      return;
    }
    this.full = false;
    const picks = this.sampler.pick(accepted);
    if (picks.length === 0) return;
    // The k-th accepted row: the k-th row itself unless the PCM discarded some of the batch.
    const index = accepted === results.length ? null : results.flatMap((r, i) => (r.state === 'accepted' ? [i] : []));
    const now = this.clock.now();
    for (const k of picks) {
      const i = index === null ? k : (index[k] as number);
      const row = rows[i] as (typeof rows)[number];
      const facts = reportFacts(row.body);
      if (facts === null) continue;
      const at = (results[i] as (typeof results)[number]).at ?? row.at;
      this.store.add({
        lane: batch.lane,
        ...facts,
        at,
        day: brtDay(at),
        acceptedAt: now,
        reportId: (results[i] as (typeof results)[number]).reportId,
        dueAt: now + this.settings.delayMs,
      });
    }
  }

  start(): void {
    this.loops.push(this.run(), this.flushLoop());
  }

  /** Stops asking (GETs in flight are aborted; their reports stay due); what was sampled is still taken until close(). */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake?.abort();
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Writes what is buffered and closes the file and the client. */
  async close(): Promise<void> {
    await this.stop();
    if (this.closed) return;
    this.closed = true;
    try {
      this.store.close();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'could not write the last reconciliation entries; they are lost (estimates only)');
    }
    await this.client.close();
  }

  /** GETs per second reconciliation may make now. */
  requestsPerSecond(): number {
    return this.share.rate();
  }

  get sampleRate(): number {
    return this.sampler.rate;
  }

  counters(): { requests: Record<RequestResult, number>; answers: Record<RecordedStatus, number> } {
    return { requests: { ...this.requests }, answers: { ...this.answers } };
  }

  pending(): { first: number; again: number } {
    return this.store.pending();
  }

  divergent(query: DivergentQuery): { total: number; data: DivergentReport[] } {
    this.flushSafely();
    return this.store.divergent(query);
  }

  status(): ReconciliationStatus {
    this.flushSafely();
    const { days, tallies } = this.store.days();
    return {
      enabled: true,
      path: this.store.path,
      movedAside: this.store.movedAside,
      share: this.settings.share,
      requestsPerSecond: this.share.rate(),
      sampleRate: this.sampler.rate,
      acceptedPerSecond: this.sampler.acceptedPerSecond,
      entries: this.store.size,
      maxEntries: this.settings.maxEntries,
      pending: this.store.pending(),
      ...this.counters(),
      lastError: this.lastError,
      days: dayFigures(days, tallies),
      divergent: this.settings.statusListed > 0 ? this.store.divergent({ offset: 0, limit: this.settings.statusListed }).data : [],
    };
  }

  private flushSafely(): number | null {
    if (this.closed) return null;
    try {
      return this.store.flush();
    } catch (err) {
      this.fail(`writing reconciliation entries failed: ${errorMessage(err)}`);
      return null;
    }
  }

  private fail(message: string): void {
    if (message !== this.lastError) this.log.error({ err: message }, 'reconciliation: entries lost (estimates only); it goes on');
    this.lastError = message;
  }

  /**
   * Apart from the asks: at the budget's pace a page of GETs can take minutes, and the sample rate, its credit and
   * the pruning must not wait for it.
   */
  private async flushLoop(): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      await this.clock.sleep(Math.min(this.settings.flushMs, this.settings.sampleIntervalMs), stop);
      try {
        const now = this.clock.now();
        if (now >= this.nextTick) this.tick(now);
      } catch (err) {
        this.fail(errorMessage(err));
      }
      const earliest = this.flushSafely();
      if (earliest !== null && earliest < this.sleepingUntil) this.wake?.abort();
    }
  }

  private tick(now: number): void {
    this.nextTick = now + this.settings.sampleIntervalMs;
    this.sampler.update(now, this.share.rate());
    const pruned = this.store.prune(brtDay(now - this.settings.retainMs));
    if (pruned > 0) this.log.info({ entries: pruned }, 'reconciliation: deleted entries of days past their retention');
  }

  private async run(): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      try {
        const now = this.clock.now();
        const due = this.store.due(now, this.settings.pageSize);
        if (due.length > 0) {
          await this.askAll(due);
          continue;
        }
        // Until the next due ask; a flush that adds an earlier one wakes it.
        const next = this.store.nextDue();
        await this.sleepUntil(Math.min(next ?? Number.POSITIVE_INFINITY, now + this.settings.sampleIntervalMs));
      } catch (err) {
        // The file (busy, full disk) or a bug: reconciliation waits and goes on; delivery never notices.
        this.fail(errorMessage(err));
        await this.clock.sleep(this.settings.errorRetryMs, stop);
      }
    }
  }

  private async sleepUntil(at: number): Promise<void> {
    const wake = new AbortController();
    const onStop = (): void => wake.abort();
    this.stopping.signal.addEventListener('abort', onStop, { once: true });
    this.wake = wake;
    this.sleepingUntil = at;
    try {
      await this.clock.sleep(Math.max(0, at - this.clock.now()), wake.signal);
    } finally {
      this.sleepingUntil = Number.POSITIVE_INFINITY;
      this.wake = null;
      this.stopping.signal.removeEventListener('abort', onStop);
    }
  }

  private async askAll(due: readonly DueEntry[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < due.length && !this.stopping.signal.aborted) await this.ask(due[next++] as DueEntry);
    };
    await Promise.all(Array.from({ length: Math.min(this.settings.concurrency, due.length) }, worker));
    this.flushSafely();
  }

  private async ask(entry: DueEntry): Promise<void> {
    const signal = this.stopping.signal;
    const stopAt = entry.at + this.settings.stopAfterMs;
    const now = this.clock.now();
    // Past D+7 with an answer (or an attempt) already: final as it stands. A first ask is always made.
    if (now > stopAt && (entry.asks > 0 || entry.errors > 0)) {
      this.store.update({ entry, status: null, differing: null, pairedReportId: null, failed: false, at: now, dueAt: null });
      return;
    }
    const source = this.deps.tokens(entry.lane);
    if (!source) return this.retryLater(entry, `no configured organisation sends lane ${entry.lane}`, false);
    let token: string;
    try {
      token = await source.token(signal);
      await this.share.take(signal);
    } catch (err) {
      if (err instanceof RateWaitAbortedError || signal.aborted) return;
      return this.retryLater(entry, `no token for ${entry.lane}: ${errorMessage(err)}`, false);
    }
    const answer = await this.client.ask(entry.fapiInteractionId, token, signal);
    if (signal.aborted && answer.kind === 'failed') return;
    const at = this.clock.now();
    if (answer.kind === 'found' || answer.kind === 'not-found') {
      this.requests[answer.kind === 'found' ? 'ok' : 'not_found']++;
      const status: RecordedStatus = answer.kind === 'found' ? answer.status : 'NOT_FOUND';
      this.answers[status]++;
      this.store.update({
        entry,
        status,
        differing: answer.kind === 'found' ? answer.differing : null,
        pairedReportId: answer.kind === 'found' ? answer.pairedReportId : null,
        failed: false,
        at,
        dueAt: isAskedAgain(status) ? this.within(entry, at + this.settings.retryMs) : null,
      });
      if (status === 'PAIRED_INCONSISTENT' || (status === 'UNPAIRED' && entry.status !== 'UNPAIRED')) {
        this.deps.onDivergent?.({ kind: status, lane: entry.lane, fapiInteractionId: entry.fapiInteractionId, differing: answer.kind === 'found' ? answer.differing : null });
      }
      return;
    }
    if (answer.kind === 'unauthorized') {
      this.requests.unauthorized++;
      source.invalidateToken(token);
      return this.retryLater(entry, `report GET answered 401 for ${entry.lane}`, true);
    }
    this.requests[answer.error.code === 'PCM_RECONCILE_THROTTLED' ? 'throttled' : 'error']++;
    this.retryLater(entry, answer.error.message, true, answer.error.retryAfterMs);
  }

  private retryLater(entry: DueEntry, message: string, failed: boolean, retryAfterMs = 0): void {
    this.lastError = message;
    const at = this.clock.now();
    this.store.update({
      entry,
      status: null,
      differing: null,
      pairedReportId: null,
      failed,
      at,
      dueAt: this.within(entry, at + Math.max(this.settings.errorRetryMs, retryAfterMs)) ?? (entry.asks === 0 && entry.errors === 0 ? at + this.settings.errorRetryMs : null),
    });
  }

  /** `at`, when it is still within `stopAfterMs` of the report's timestamp; null (no further ask) otherwise. */
  private within(entry: DueEntry, at: number): number | null {
    return at <= entry.at + this.settings.stopAfterMs ? at : null;
  }
}

/** Query of GET /v1/reconciliation: `status` (UNPAIRED | PAIRED_INCONSISTENT), `offset`, `limit` (≤ 1000). */
/** Divergent reports in one page at most (`acceptRange` of GET /v1/reconciliation). */
export const DIVERGENT_PAGE_MAX = 1000;

/** `status=`, and seed 003's `_offset`/`_limit` (400 when malformed, 412 above DIVERGENT_PAGE_MAX: PageRequestError). */
export function divergentQueryOf(query: URLSearchParams): DivergentQuery | { error: string } {
  const status = query.get('status') ?? undefined;
  if (status !== undefined && status !== 'UNPAIRED' && status !== 'PAIRED_INCONSISTENT') return { error: 'status must be UNPAIRED or PAIRED_INCONSISTENT' };
  return { status: status as DivergentStatus | undefined, ...pageOf(query, DIVERGENT_PAGE_MAX) };
}
