import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { eventually } from '../helpers/http.js';
import { tempDir } from '../helpers/pki.js';
import { offlineConfig } from '../helpers/stack.js';
import { meta, WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * SIGHUP reloads the webhook subscriptions (issue #11 item 5): `RunningSidecar.reload` with a changed configuration.
 * Unchanged subscriptions carry on, a changed URL delivers to the new receiver from then on, an added one starts, a
 * removed one's pending notifications are given up, and a bad one leaves the running ones as they were.
 */

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
type Subscriptions = Config['alerts']['subscriptions'];

describe('reloading webhook subscriptions', () => {
  let sidecar: RunningSidecar | null = null;
  const hooks: WebhookReceiver[] = [];
  afterEach(async () => {
    await sidecar?.stop();
    sidecar = null;
    await Promise.all(hooks.splice(0).map((h) => h.close()));
  });

  async function start(subscriptions: Subscriptions): Promise<{ config: Config; configWith: (s: Subscriptions) => Config }> {
    const dir = await tempDir('alerts-reload');
    const configWith = (s: Subscriptions): Config => offlineConfig(dir, { alerts: { aggregateMs: 0, retryIntervalMs: 60_000, subscriptions: s } });
    const config = configWith(subscriptions);
    sidecar = await startSidecar(config, createLogger('silent'));
    return { config, configWith };
  }
  const receiver = async (): Promise<WebhookReceiver> => {
    const hook = await WebhookReceiver.start();
    hooks.push(hook);
    return hook;
  };
  const unpaired = (fapi: string): void => sidecar!.alerts.pairing({ kind: 'UNPAIRED', count: 1, orgId: ORG, fapiInteractionIds: [fapi] });
  const fapisOf = (hook: WebhookReceiver): (string | undefined)[] => hook.accepted.map((r) => meta(r.body, 'fapiInteractionIds'));

  it('moves a changed subscription to its new URL, starts an added one, and keeps the running ones when the new ones are bad', async () => {
    const [a, b, c] = [await receiver(), await receiver(), await receiver()];
    const { configWith } = await start([{ id: 'ops', events: ['REPORT.UNPAIRED'], url: a.url }]);
    unpaired('f-1');
    await eventually(async () => (a.accepted.length === 1 ? true : undefined), 10_000, 20);

    const changed = await sidecar!.reload(
      configWith([
        { id: 'ops', events: ['REPORT.UNPAIRED'], url: b.url },
        { id: 'audit', events: ['REPORT.UNPAIRED'], url: c.url },
      ]),
    );
    expect(changed.webhooks).toEqual({ added: ['audit'], changed: ['ops'], removed: [] });
    unpaired('f-2');
    await eventually(async () => (b.accepted.length === 1 && c.accepted.length === 1 ? true : undefined), 10_000, 20);
    expect([fapisOf(a), fapisOf(b), fapisOf(c)]).toEqual([['f-1'], ['f-2'], ['f-2']]);

    // An unknown event: refused as a setting, and the subscriptions (and the catalogue) stay as they were.
    await expect(sidecar!.reload(configWith([{ id: 'ops', events: ['REPORT.NOPE'], url: a.url }]))).rejects.toBeInstanceOf(ConfigError);
    expect(sidecar!.alerts.subscriptions.map((s) => [s.id, s.url])).toEqual([
      ['ops', b.url],
      ['audit', c.url],
    ]);
    unpaired('f-3');
    await eventually(async () => (b.accepted.length === 2 && c.accepted.length === 2 ? true : undefined), 10_000, 20);
    expect(a.accepted).toHaveLength(1);
  });

  it('refuses a reload once a stop has begun, and a stop is not held by one', async () => {
    const hook = await receiver();
    const { configWith } = await start([]);
    const stopping = sidecar!.stop(2000);
    await expect(sidecar!.reload(configWith([{ id: 'ops', events: ['REPORT.UNPAIRED'], url: hook.url }]))).rejects.toThrow(/stopping/);
    await stopping;
    expect(sidecar!.alerts.subscriptions).toEqual([]);
    sidecar = null;
  });

  it('gives up the pending notifications of a removed subscription, and starts deliveries when the first one is added', async () => {
    const failing = await receiver();
    failing.answer = () => 500;
    const { configWith } = await start([]);
    expect(sidecar!.alerts.subscriptions).toEqual([]);

    // From none (no store, no clock running) to one.
    await sidecar!.reload(configWith([{ id: 'ops', events: ['REPORT.UNPAIRED'], url: failing.url }]));
    unpaired('f-1');
    await eventually(async () => (failing.received.length >= 1 ? true : undefined), 10_000, 20);
    const listed = sidecar!.alerts.listNotifications(new URLSearchParams('state=pending'));
    expect(listed.status).toBe(200);

    const removed = await sidecar!.reload(configWith([]));
    expect(removed.webhooks).toEqual({ added: [], changed: [], removed: ['ops'] });
    const failed = sidecar!.alerts.listNotifications(new URLSearchParams('state=failed'));
    expect((failed.body as { notifications: { event: string }[] }).notifications.map((n) => n.event)).toEqual(['REPORT.UNPAIRED']);
    expect(failed.headers?.contentRange).toBe('1');
    // Counted as failed, and the event's series stays although nothing subscribes to it now.
    const counted = (result: string): number | undefined =>
      sidecar!.alerts.notificationCounts().find((c) => c.labels.event === 'REPORT.UNPAIRED' && c.labels.result === result)?.value;
    expect([counted('created'), counted('failed')]).toEqual([1, 1]);
  });
});
