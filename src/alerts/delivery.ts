import type { Logger } from 'pino';
import { AlertDeliveryError, errorMessage } from '../errors.js';
import { MinuteRateLimit } from './rate-limit.js';
import type { AlertStore, StoredNotification } from './store.js';
import type { WebhookClient } from './webhook-client.js';

/**
 * One subscription's deliveries, in order: its oldest pending notification is tried until the receiver takes it
 * (or it is given up), and only then the next. A receiver that fails holds every later notification of the same
 * subscription behind the first, as a queue does, so it sees events in the order they happened; other subscriptions
 * are not held up. Failed attempts are tried again every `retryIntervalMs` until `retryWindowMs` after the
 * notification was made (seed 002: every 5 minutes for 24 hours), then it is given up: recorded as failed, logged,
 * counted. A notification that waited behind others past its window gets one attempt. Every step is in the store,
 * so a restart carries on where the last process was; an attempt cut short by a stop is made again (the receiver
 * may then see a transactionId twice — at least once, never lost).
 */

export type DeliveryResult = 'delivered' | 'retried' | 'failed';

export interface DeliveryOptions {
  retryIntervalMs: number;
  retryWindowMs: number;
  now: () => number;
  log: Logger;
  onResult: (event: string, result: DeliveryResult) => void;
}

/** With nothing to send, the store is looked at again after this long even without a wake-up. */
const IDLE_RECHECK_MS = 5_000;
/** After a failure of the store itself, the worker waits this long before trying again. */
const STORE_FAILURE_PAUSE_MS = 5_000;

export class DeliveryWorker {
  private stopped = false;
  private readonly wakers = new Set<() => void>();
  private readonly aborting = new AbortController();
  private running: Promise<void> | null = null;
  private readonly limit: MinuteRateLimit;

  constructor(
    private readonly client: WebhookClient,
    private readonly store: AlertStore,
    private readonly options: DeliveryOptions,
  ) {
    this.limit = new MinuteRateLimit(client.subscription.rateLimitPerMinute, options.now);
  }

  get id(): string {
    return this.client.subscription.id;
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** A notification was added: look now rather than at the next recheck. */
  wake(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /** Stops taking notifications; an attempt under way gets `graceMs` to finish, then it is cut short. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.wake();
    const timer = setTimeout(() => this.aborting.abort(), graceMs);
    await this.running;
    clearTimeout(timer);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const head = this.store.head(this.id);
        if (!head) {
          await this.pause(IDLE_RECHECK_MS);
          continue;
        }
        const due = head.nextAttemptAt - this.options.now();
        if (due > 0) {
          await this.pause(due);
          continue;
        }
        const held = this.limit.wait();
        if (held > 0) {
          await this.pause(held);
          continue;
        }
        this.limit.taken();
        await this.attempt(head);
      } catch (err) {
        this.options.log.error({ subscription: this.id, err: errorMessage(err) }, 'alerts: the notification store failed; deliveries pause and resume by themselves');
        await this.pause(STORE_FAILURE_PAUSE_MS);
      }
    }
  }

  private async attempt(head: StoredNotification): Promise<void> {
    const { log, now, retryIntervalMs, retryWindowMs, onResult } = this.options;
    const attempts = head.attempts + 1;
    const context = { subscription: this.id, origin: this.client.subscription.origin, transactionId: head.transactionId, event: head.event, attempts };
    let status: number;
    try {
      status = await this.client.deliver(head.payload, this.aborting.signal);
    } catch (err) {
      // Cut short by the stop: not an attempt that failed; the next process makes it.
      if (this.aborting.signal.aborted) return;
      const at = now();
      const message = errorMessage(err);
      const answered = err instanceof AlertDeliveryError ? (err.status ?? null) : null;
      const code = err instanceof AlertDeliveryError ? err.code : 'PCM_ALERT_UNREACHABLE';
      if (at + retryIntervalMs > head.createdAt + retryWindowMs) {
        this.store.failed(head.id, attempts, at, answered, message);
        onResult(head.event, 'failed');
        log.error({ ...context, code, err: message }, `alerts: notification given up after ${attempts} attempts over the retry window; recorded as failed`);
      } else {
        this.store.retry(head.id, attempts, at, at + retryIntervalMs, answered, message);
        onResult(head.event, 'retried');
        log.warn({ ...context, code, err: message, retryInMs: retryIntervalMs }, 'alerts: notification not delivered; later ones of this subscription wait behind it');
      }
      return;
    }
    // Outside the try: a store that cannot record the success must not turn it into a retry of a delivered notification.
    this.store.delivered(head.id, attempts, now(), status);
    onResult(head.event, 'delivered');
    log.debug({ ...context, status }, 'alerts: notification delivered');
  }

  /** Waits `ms` (a wake-up or the stop ends it sooner). */
  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, Math.min(ms, IDLE_RECHECK_MS)));
      // The listener keeps the process up; an idle worker must not.
      timer.unref();
      this.wakers.add(done);
    });
  }
}
