import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { Agent } from '../http-client.js';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { QualityFindings } from '../ingest/server.js';
import type { DiscardedReports } from '../sender/lane.js';
import type { ReadinessChange } from '../sender/readiness.js';
import type { DayVerdict } from '../sla/assess.js';
import { BacklogWatch, type BacklogSnapshot } from './backlog-watch.js';
import { Bursts, type Burst } from './bursts.js';
import { DeliveryWorker, type DeliveryResult } from './delivery.js';
import type { AlertCode, AlertEvent, AlertSink } from './events.js';
import { listNotifications, type RouteAnswer } from './notifications-route.js';
import { notificationPayload } from './payload.js';
import { discardedEvent, pairingEvent, qualityEvent, readinessEvent, slaEvent, tooOldEvent, type PairingFinding } from './sources.js';
import { AlertStore, type NewNotification } from './store.js';
import { resolveSubscriptions, type Subscription } from './subscriptions.js';
import { WebhookClient } from './webhook-client.js';

/**
 * Webhook alerts: events from the sidecar's sources are aggregated into bursts (bursts.ts), each closed burst becomes
 * one notification per subscription that wants its event, kept in the notification store (store.ts) and delivered
 * in order per subscription with retries (delivery.ts). The sources call the methods below through callbacks the
 * sidecar wires; nothing in the sender, spool or SLA imports this room.
 */

export interface AlertsOptions {
  settings: Config['alerts'];
  /** The store file: `alerts.storePath`, or `<spool path>.alerts.db`. */
  storePath: string;
  log: Logger;
  now?: () => number;
}

/** Changed bursts are written this long after the first change, together: one transaction for a storm of events. */
const PERSIST_DELAY_MS = 200;
/** Windows are checked for their end this often at most … */
const MAX_TICK_MS = 1000;
/** … and at least this often (a short PCM_ALERTS_AGGREGATE_MS in tests). */
const MIN_TICK_MS = 25;
/** Delivered and failed notifications past their retention are deleted this often, in chunks of PRUNE_CHUNK. */
const PRUNE_INTERVAL_MS = 60_000;
const PRUNE_CHUNK = 1000;

export const NOTIFICATION_RESULTS = ['created', 'delivered', 'retried', 'failed'] as const;
export type NotificationResult = (typeof NOTIFICATION_RESULTS)[number];

/** A subscription's worker is kept across a reload only when none of what its deliveries use changed. */
function sameDelivery(a: Subscription, b: Subscription): boolean {
  const delivery = (s: Subscription): string => JSON.stringify([s.url, s.headers, s.rateLimitPerMinute, s.expectStatus, s.oauth2 ?? null]);
  return delivery(a) === delivery(b);
}

export class Alerts {
  private current: readonly Subscription[];
  private wanted = new Set<AlertCode>();
  private store: AlertStore | null;
  private readonly bursts: Bursts;
  private readonly workers: DeliveryWorker[] = [];
  private readonly agent: Agent;
  private readonly now: () => number;
  private readonly counts = new Map<string, number>();
  private readonly backlogWatch: BacklogWatch;
  private persistTimer: NodeJS.Timeout | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private backlogTimer: NodeJS.Timeout | null = null;
  private lastPrune = 0;
  private stopped = false;
  private started = false;
  private deliveriesStopped = false;
  private backlog: (() => BacklogSnapshot) | undefined;

  private constructor(
    private readonly options: AlertsOptions,
    subscriptions: Subscription[],
    store: AlertStore | null,
  ) {
    const { settings, log } = options;
    this.now = options.now ?? Date.now;
    this.current = subscriptions;
    for (const s of subscriptions) for (const code of s.events) this.wanted.add(code);
    this.store = store;
    this.bursts = new Bursts(settings.aggregateMs, settings.sampleSize, store?.loadBursts() ?? []);
    this.backlogWatch = new BacklogWatch(settings.backlogMaxAgeMs, settings.backlogMaxReports);
    // TLS verification stays Node's default (on); one pool for every receiver and token endpoint.
    this.agent = new Agent({ connect: { timeout: settings.timeoutMs }, keepAliveTimeout: 30_000 });
    if (store) for (const subscription of subscriptions) this.workers.push(this.workerFor(subscription, store, log));
  }

  get subscriptions(): readonly Subscription[] {
    return this.current;
  }

  private workerFor(subscription: Subscription, store: AlertStore, log: Logger): DeliveryWorker {
    const { settings } = this.options;
    const client = new WebhookClient(subscription, this.agent, settings.timeoutMs, this.now);
    return new DeliveryWorker(client, store, {
      retryIntervalMs: settings.retryIntervalMs,
      retryWindowMs: settings.retryWindowMs,
      now: this.now,
      log,
      onResult: (event, result) => this.count(event, result),
    });
  }

  /**
   * Checks the subscriptions (a bad one is a ConfigError) and opens the store: always when a subscription is
   * configured, and when its file exists (to list, and to settle notifications of subscriptions removed since).
   */
  static open(options: AlertsOptions): Alerts {
    const subscriptions = resolveSubscriptions(options.settings.subscriptions);
    const store = subscriptions.length > 0 || existsSync(options.storePath) ? Alerts.openStore(options) : null;
    return new Alerts(options, subscriptions, store);
  }

  private static openStore(options: AlertsOptions): AlertStore {
    const store = AlertStore.open(options.storePath);
    if (store.movedAside) {
      options.log.error({ movedTo: store.movedAside, code: 'PCM_ALERT_STORE_UNREADABLE' }, 'the alerts store could not be read; it was moved aside and a new one started');
    }
    return store;
  }

  /**
   * SIGHUP: the subscriptions of `configured` from now on. A bad one is a ConfigError and the running ones stay.
   * Workers of unchanged subscriptions carry on; a changed one's worker finishes its attempt under way (within
   * `graceMs`) and a new one takes its queue from the store, in order; a removed one's pending notifications are
   * marked failed, as at a start without it. Other alert settings (windows, retries) still need a restart.
   */
  async reloadSubscriptions(configured: Config['alerts']['subscriptions'], graceMs: number): Promise<{ added: string[]; changed: string[]; removed: string[] }> {
    const next = resolveSubscriptions(configured);
    if (this.stopped) return { added: [], changed: [], removed: [] };
    const { log } = this.options;
    const before = new Map(this.current.map((s) => [s.id, s]));
    const after = new Map(next.map((s) => [s.id, s]));
    const added = next.filter((s) => !before.has(s.id)).map((s) => s.id);
    const removed = this.current.filter((s) => !after.has(s.id)).map((s) => s.id);
    const changed = next.filter((s) => before.has(s.id) && !sameDelivery(before.get(s.id) as Subscription, s)).map((s) => s.id);
    if (!this.store && next.length > 0) this.store = Alerts.openStore(this.options);
    // Events are taken with the new set at once; notifications made from now on follow the new subscriptions.
    this.current = next;
    this.wanted = new Set(next.flatMap((s) => [...s.events]));
    const replaced = new Set([...removed, ...changed]);
    const leaving = this.workers.filter((w) => replaced.has(w.id));
    await Promise.all(leaving.map((w) => w.stop(graceMs)));
    for (const w of leaving) this.workers.splice(this.workers.indexOf(w), 1);
    const store = this.store;
    // Deliveries stopped meanwhile (the sidecar is stopping): no worker starts after that.
    if (store && !this.deliveriesStopped) {
      const dropped = this.started ? store.failUnknown(new Set(next.map((s) => s.id)), this.now()) : [];
      for (const { subscription, count, byEvent } of dropped) {
        for (const [event, n] of byEvent) this.count(event, 'failed', n);
        log.warn({ subscription, count }, 'alerts: pending notifications of a removed subscription were marked failed');
      }
      for (const id of [...changed, ...added]) {
        const worker = this.workerFor(after.get(id) as Subscription, store, log);
        this.workers.push(worker);
        if (this.started) worker.start();
      }
      if (this.started) this.startTimers();
    }
    log.info({ added, changed, removed, subscriptions: next.map((s) => ({ id: s.id, origin: s.origin, events: [...s.events] })) }, 'alerts: webhook subscriptions reloaded');
    return { added, changed, removed };
  }

  /** The callback a source gets (the reconciler, say). */
  get sink(): AlertSink {
    return (event) => this.emit(event);
  }

  /** Takes one event. Never throws: an alert that cannot be recorded is logged, the source carries on. */
  emit(event: AlertEvent): void {
    if (this.stopped || !this.store || !this.wanted.has(event.code)) return;
    try {
      const closed = this.bursts.add(event, this.now());
      if (closed.length > 0) this.closeBursts(closed);
      else this.schedulePersist();
    } catch (err) {
      this.options.log.error({ event: event.code, err: errorMessage(err) }, 'alerts: could not record an event');
    }
  }

  // The sources' hooks, as the sidecar wires them.
  discarded(d: DiscardedReports): void {
    if (this.wanted.has('REPORT.DISCARDED')) this.emit(discardedEvent(d, this.options.settings.sampleSize));
  }

  tooOld(lane: string, bodies: readonly string[], message: string): void {
    if (this.wanted.has('REPORT.DISCARDED')) this.emit(tooOldEvent(lane, bodies, message, this.options.settings.sampleSize));
  }

  readinessChanged(change: ReadinessChange): void {
    const event = readinessEvent(change);
    if (event) this.emit(event);
  }

  slaChanged(verdict: DayVerdict): void {
    this.emit(slaEvent(verdict));
  }

  qualityFound(found: QualityFindings): void {
    if (this.wanted.has('QUALITY.FINDINGS')) this.emit(qualityEvent(found));
  }

  /** REPORT.UNPAIRED / REPORT.PAIRED_INCONSISTENT: what reconciliation calls (through the sidecar). */
  pairing(found: PairingFinding): void {
    this.emit(pairingEvent(found));
  }

  /** Compares a backlog snapshot with the thresholds (SPOOL.BACKLOG_HIGH raised or cleared). */
  checkBacklog(snapshot: BacklogSnapshot): void {
    const event = this.backlogWatch.check(snapshot);
    if (event) this.emit(event);
  }

  /** Starts the deliveries, the window clock and, given a backlog reader, its check every `checkIntervalMs`. */
  start(backlog?: () => BacklogSnapshot): void {
    const { log } = this.options;
    this.backlog = backlog;
    this.started = true;
    if (!this.store) return;
    const dropped = this.store.failUnknown(new Set(this.current.map((s) => s.id)), this.now());
    for (const { subscription, count, byEvent } of dropped) {
      for (const [event, n] of byEvent) this.count(event, 'failed', n);
      log.warn({ subscription, count }, 'alerts: pending notifications of a subscription no longer configured were marked failed');
    }
    this.startTimers();
    for (const worker of this.workers) worker.start();
    if (this.current.length > 0) {
      log.info(
        { subscriptions: this.current.map((s) => ({ id: s.id, origin: s.origin, events: [...s.events] })), pending: Object.fromEntries(this.store.pendingBySubscription()) },
        'alerts: webhook subscriptions active',
      );
    }
  }

  /**
   * The window clock, and the backlog check while SPOOL.BACKLOG_HIGH is wanted and thresholds are set; a reload
   * that adds the first subscription or that event starts what was not running.
   */
  private startTimers(): void {
    const { settings, log } = this.options;
    if (!this.tickTimer) {
      const tick = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(settings.aggregateMs / 4) || MAX_TICK_MS));
      this.tickTimer = setInterval(() => this.tick(), tick);
      this.tickTimer.unref();
    }
    const backlog = this.backlog;
    if (this.backlogTimer || !backlog || !this.wanted.has('SPOOL.BACKLOG_HIGH') || (settings.backlogMaxAgeMs <= 0 && settings.backlogMaxReports <= 0)) return;
    this.backlogTimer = setInterval(() => {
      try {
        this.checkBacklog(backlog());
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'alerts: could not read the backlog');
      }
    }, settings.checkIntervalMs);
    this.backlogTimer.unref();
  }

  /**
   * Stops the deliveries: none starts, an attempt under way gets `graceMs` to finish. Events are still taken until
   * close(), so the sender's last answers are not lost: run it alongside the sender's stop.
   */
  async stopDeliveries(graceMs: number): Promise<void> {
    this.deliveriesStopped = true;
    await Promise.all(this.workers.map((w) => w.stop(graceMs)));
    await this.agent.close().catch(() => undefined);
  }

  /** Writes the open bursts (they close on time after a restart) and closes the store; events are ignored from now. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of [this.persistTimer, this.tickTimer, this.backlogTimer]) if (timer) clearTimeout(timer);
    this.persist();
    this.store?.close();
  }

  async stop(graceMs: number): Promise<void> {
    await this.stopDeliveries(graceMs);
    this.close();
  }

  listNotifications(query: URLSearchParams): RouteAnswer {
    return listNotifications(this.store, query, this.options.settings.pageMax);
  }

  /** pcm_sidecar_alerts_notifications_total{event,result}: every subscribed event and result, zeros included. */
  notificationCounts(): { labels: { event: string; result: NotificationResult }; value: number }[] {
    // Events no longer subscribed keep their series: a counter does not vanish with a reload.
    const events = new Set<string>([...this.wanted, ...[...this.counts.keys()].map((key) => key.slice(0, key.indexOf('|')))]);
    return [...events].flatMap((event) => NOTIFICATION_RESULTS.map((result) => ({ labels: { event, result }, value: this.counts.get(`${event}|${result}`) ?? 0 })));
  }

  /** Pending notifications per subscription (a partial index: cheap at scrape). */
  pendingCounts(): { labels: { subscription: string }; value: number }[] {
    if (!this.store?.open) return [];
    const pending = this.store.pendingBySubscription();
    return this.current.map((s) => ({ labels: { subscription: s.id }, value: pending.get(s.id) ?? 0 }));
  }

  private count(event: string, result: DeliveryResult | 'created', n = 1): void {
    const key = `${event}|${result}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }

  private schedulePersist(): void {
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = null;
      this.persist();
    }, PERSIST_DELAY_MS);
    this.persistTimer.unref();
  }

  private persist(): void {
    try {
      this.store?.saveBursts(this.bursts.takeDirty(), []);
    } catch (err) {
      this.options.log.error({ err: errorMessage(err) }, 'alerts: could not write open bursts; tried again with the next event');
    }
  }

  private tick(): void {
    try {
      const due = this.bursts.due(this.now());
      if (due.length > 0) this.closeBursts(due);
      const now = this.now();
      if (this.store && now - this.lastPrune >= PRUNE_INTERVAL_MS) {
        this.lastPrune = now;
        const deleted = this.store.prune(now - this.options.settings.retainMs, PRUNE_CHUNK);
        if (deleted > 0) this.options.log.info({ notifications: deleted }, 'alerts: deleted notifications past their retention');
      }
    } catch (err) {
      this.options.log.error({ err: errorMessage(err) }, 'alerts: could not close bursts into notifications');
    }
  }

  /** Bursts become notifications, one per subscription that wants the event, in one transaction with the open ones. */
  private closeBursts(bursts: readonly Burst[]): void {
    if (!this.store) return;
    const now = this.now();
    const woken = new Set<string>();
    const closed = bursts.map((burst) => ({
      burst,
      notifications: this.subscriptions
        .filter((s) => s.events.has(burst.code))
        .map((s): NewNotification => {
          woken.add(s.id);
          const transactionId = randomUUID();
          return { subscription: s.id, transactionId, event: burst.code, payload: JSON.stringify(notificationPayload(burst, transactionId, now)), createdAt: now };
        }),
    }));
    this.store.saveBursts(this.bursts.takeDirty(), closed);
    for (const { burst, notifications } of closed) this.count(burst.code, 'created', notifications.length);
    for (const worker of this.workers) if (woken.has(worker.id)) worker.wake();
  }
}
