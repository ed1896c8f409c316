import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Alerts } from '../../src/alerts/alerts.js';
import { configSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { eventually } from '../helpers/http.js';
import { tempDir } from '../helpers/pki.js';
import { meta, WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Webhook delivery in process, against real HTTP servers on 127.0.0.1: aggregation of a burst, order and give-up
 * after the retry window (small settings, no timing assertions), OAuth2 client_credentials with the secret in Basic
 * auth, and the store surviving a new Alerts on the same file.
 */

const LANE = 'private:062c5edb-4e83-5002-9981-e2a96c5ad41e';
const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';

function capture(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

function settings(input: Record<string, unknown>) {
  return configSchema.shape.alerts.parse(input);
}

const opened: Alerts[] = [];
const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((a) => a.stop(1000)));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function open(dir: string, input: Record<string, unknown>, log = capture().log): Promise<Alerts> {
  const alerts = Alerts.open({ settings: settings(input), storePath: join(dir, 'spool.db.alerts.db'), log });
  opened.push(alerts);
  alerts.start();
  return alerts;
}

async function receiver(): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start();
  servers.push(r);
  return r;
}

const discarded = (fapi: string, message = 'Report is too old') => ({
  lane: LANE,
  orgId: ORG,
  reason: 'pcm' as const,
  message,
  bodies: [JSON.stringify({ fapiInteractionId: fapi })],
});

describe('alerts: aggregation, order and give-up', () => {
  it('10,000 DISCARDED answers within one window are one notification with the count and the first fapiInteractionIds', async () => {
    const dir = await tempDir('alerts-burst');
    const hook = await receiver();
    const alerts = await open(dir, { aggregateMs: 300, subscriptions: [{ events: ['REPORT.DISCARDED'], url: hook.url }] });
    for (let i = 0; i < 10_000; i++) alerts.discarded(discarded(`fapi-${i}`));
    const [got] = await eventually(async () => (hook.accepted.length >= 1 ? hook.accepted : undefined), 10_000, 20);
    const body = got!.body;
    expect(body.eventoNotificacao).toBe('REPORT.DISCARDED');
    expect(body.transactionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Date.parse(body.timestamp)).not.toBeNaN();
    expect(meta(body, 'count')).toBe('10000');
    expect(meta(body, 'lane')).toBe(LANE);
    expect(meta(body, 'orgId')).toBe(ORG);
    expect(meta(body, 'reason')).toBe('pcm');
    expect(meta(body, 'message')).toBe('Report is too old');
    expect(meta(body, 'fapiInteractionIds')).toBe('fapi-0,fapi-1,fapi-2,fapi-3,fapi-4');
    for (const m of body.metadados) expect(typeof m.valor).toBe('string');
    expect(got!.headers['content-type']).toBe('application/json');
    // One window, one notification: nothing else arrives once the window has closed and its notification is in.
    const page = alerts.listNotifications(new URLSearchParams());
    expect(page.headers?.contentRange).toBe('1');
    expect(alerts.notificationCounts()).toContainEqual({ labels: { event: 'REPORT.DISCARDED', result: 'created' }, value: 1 });
    // The receiver saw the request before the sender read its 201: the delivery is counted once that answer is in.
    await eventually(async () => (alerts.notificationCounts().some((c) => c.labels.result === 'delivered' && c.value === 1) ? true : undefined), 10_000, 20);
    expect(alerts.notificationCounts()).toContainEqual({ labels: { event: 'REPORT.DISCARDED', result: 'delivered' }, value: 1 });
  });

  it('a state that changes within a window closes the window of the state before it: raised, cleared, raised stay three, in order', async () => {
    const dir = await tempDir('alerts-state');
    const hook = await receiver();
    const alerts = await open(dir, { aggregateMs: 200, subscriptions: [{ events: ['*'], url: hook.url, headers: { 'x-api-key': 'k1' } }] });
    const verdict = (atRisk: boolean) => ({
      day: '2026-12-01', deadline: '2026-12-02T11:00:00.000Z', received: 100, delivered: 80, onTime: 80, discarded: 0, tooOld: 0, pending: 20,
      onTimeShare: 0.8, deliveredShare: 0.8, projectedShare: atRisk ? 0.9 : 0.96, atRisk,
    });
    alerts.slaChanged(verdict(true));
    alerts.slaChanged(verdict(false));
    alerts.slaChanged(verdict(true));
    const got = await eventually(async () => (hook.accepted.length >= 3 ? hook.accepted : undefined), 10_000, 20);
    expect(got.map((r) => [r.body.eventoNotificacao, meta(r.body, 'state'), meta(r.body, 'day')])).toEqual([
      ['SLA.AT_RISK', 'raised', '2026-12-01'],
      ['SLA.AT_RISK', 'cleared', '2026-12-01'],
      ['SLA.AT_RISK', 'raised', '2026-12-01'],
    ]);
    expect(got.every((r) => r.headers['x-api-key'] === 'k1')).toBe(true);
    expect(new Set(got.map((r) => r.body.transactionId)).size).toBe(3);
  });

  it('a receiver that never answers 201 holds later notifications behind the first, which is given up after the retry window; the next then goes', async () => {
    const dir = await tempDir('alerts-giveup');
    const hook = await receiver();
    // 500 for the first notification's transactionId, 201 for the others.
    let first: string | null = null;
    hook.answer = (body) => {
      first ??= body.transactionId;
      return body.transactionId === first ? 500 : 201;
    };
    const { log, lines } = capture();
    const alerts = await open(dir, { aggregateMs: 0, retryIntervalMs: 40, retryWindowMs: 200, subscriptions: [{ id: 'ops', events: ['REPORT.DISCARDED'], url: hook.url }] }, log);
    alerts.discarded(discarded('a'));
    alerts.discarded(discarded('b'));
    await eventually(async () => (hook.accepted.length >= 1 ? true : undefined), 10_000, 20);
    // The receiver saw b before the sender read its 201: wait for the store to say so too.
    await eventually(async () => ((alerts.listNotifications(new URLSearchParams('state=delivered')).body as { notifications: unknown[] }).notifications.length === 1 ? true : undefined), 10_000, 20);
    // b waited behind a: every request before b's was a's, and b went only once a was given up.
    const order = hook.received.map((r) => meta(r.body, 'fapiInteractionIds'));
    const firstB = order.indexOf('b');
    expect(order.slice(0, firstB).every((x) => x === 'a')).toBe(true);
    expect(firstB).toBeGreaterThanOrEqual(2);
    const failed = alerts.listNotifications(new URLSearchParams('state=failed')).body as { notifications: { attempts: number; lastStatus: number; lastError: string; finishedAt: string }[] };
    expect(failed.notifications).toHaveLength(1);
    expect(failed.notifications[0]).toMatchObject({ lastStatus: 500, lastError: 'receiver answered 500, expected 201' });
    expect(failed.notifications[0]!.attempts).toBe(firstB);
    const delivered = alerts.listNotifications(new URLSearchParams('state=delivered')).body as { notifications: { attempts: number }[] };
    expect(delivered.notifications).toEqual([expect.objectContaining({ attempts: 1 })]);
    expect(alerts.notificationCounts()).toContainEqual({ labels: { event: 'REPORT.DISCARDED', result: 'failed' }, value: 1 });
    expect(alerts.notificationCounts()).toContainEqual({ labels: { event: 'REPORT.DISCARDED', result: 'retried' }, value: firstB - 1 });
    expect(alerts.pendingCounts()).toEqual([{ labels: { subscription: 'ops' }, value: 0 }]);
    expect(lines.some((l) => l.includes('given up') && l.includes('"subscription":"ops"'))).toBe(true);
  });

  it('an open burst and pending notifications survive a new Alerts on the same store; a removed subscription has its pending ones failed', async () => {
    const dir = await tempDir('alerts-reopen');
    const hook = await receiver();
    hook.answer = () => 503;
    const sub = { id: 'ops', events: ['REPORT.DISCARDED', 'TOKEN.FAILED'], url: hook.url };
    const a = await open(dir, { aggregateMs: 0, retryIntervalMs: 30, subscriptions: [sub] });
    a.discarded(discarded('x'));
    await eventually(async () => (hook.received.length >= 1 ? true : undefined), 10_000, 20);
    // A burst still open at the stop, written with it.
    await a.stop(1000);
    const b = await open(dir, { aggregateMs: 60_000, retryIntervalMs: 30, subscriptions: [sub] });
    b.readinessChanged({ lane: LANE, ready: false, code: 'PCM_TOKEN_REFUSED', previousCode: null, reason: 'token request for client_id c refused: 401' });
    await b.stop(1000);
    hook.answer = () => 201;
    const c = await open(dir, { aggregateMs: 100, retryIntervalMs: 30, subscriptions: [sub] });
    const got = await eventually(async () => (hook.accepted.length >= 1 ? hook.accepted : undefined), 10_000, 20);
    expect(got[0]!.body.eventoNotificacao).toBe('REPORT.DISCARDED');
    expect(meta(got[0]!.body, 'fapiInteractionIds')).toBe('x');
    // The TOKEN.FAILED burst left open by b closes on c's clock after its 60 s window: still open, in the store.
    expect(c.listNotifications(new URLSearchParams()).headers?.contentRange).toBe('1');
    hook.answer = () => 503;
    c.discarded(discarded('z'));
    await eventually(async () => (hook.received.some((r) => meta(r.body, 'fapiInteractionIds') === 'z') ? true : undefined), 10_000, 20);
    await c.stop(1000);
    // Without its subscription, z is settled as failed, not left pending for ever (nor sent to another receiver).
    const d = await open(dir, { aggregateMs: 0, subscriptions: [{ id: 'other', events: ['TOKEN.FAILED'], url: hook.url }] });
    expect(d.listNotifications(new URLSearchParams('state=pending')).headers?.contentRange).toBe('0');
    const failed = d.listNotifications(new URLSearchParams('state=failed')).body as { notifications: { subscription: string; lastError: string; payload: { metadados: { nome: string; valor: string }[] } }[] };
    expect(failed.notifications).toHaveLength(1);
    expect(failed.notifications[0]).toMatchObject({ subscription: 'ops', lastError: 'the subscription is no longer configured' });
  });

  it('refuses unknown event codes and duplicate subscriptions as settings', async () => {
    const dir = await tempDir('alerts-config');
    const bad = (subs: unknown[]) => () => Alerts.open({ settings: settings({ subscriptions: subs }), storePath: join(dir, 'x.db'), log: capture().log });
    expect(bad([{ events: ['REPORT.LOST'], url: 'http://127.0.0.1:1/' }])).toThrow(ConfigError);
    expect(bad([{ events: ['REPORT.LOST'], url: 'http://127.0.0.1:1/' }])).toThrow(/alerts.subscriptions.0.events: unknown event REPORT.LOST/);
    expect(bad([{ events: ['*'], url: 'http://127.0.0.1:1/' }, { events: ['*'], url: 'http://127.0.0.1:1/' }])).toThrow(/configured twice/);
    expect(() => settings({ subscriptions: [{ events: ['*'], url: 'http://127.0.0.1:1/', headers: { 'content-length': '1' } }] })).toThrow();
  });
});

/** A local OAuth2 token endpoint: checks Basic auth and the grant, counts tokens, answers `expires_in`. */
async function tokenEndpoint(clientId: string, secret: string): Promise<{ url: string; issued: string[]; refused: number; close(): Promise<void> }> {
  const state = { issued: [] as string[], refused: 0 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const expected = `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
      res.setHeader('content-type', 'application/json');
      if (req.headers.authorization !== expected || form.get('grant_type') !== 'client_credentials' || form.get('scope') !== 'alerts:write') {
        state.refused++;
        res.writeHead(401);
        return void res.end(JSON.stringify({ error: 'invalid_client', error_description: `wrong secret ${req.headers.authorization}` }));
      }
      const token = `tok-${state.issued.length + 1}`;
      state.issued.push(token);
      res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: '3600', scope: 'alerts:write' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/auth/oauth/token`,
    get issued() {
      return state.issued;
    },
    get refused() {
      return state.refused;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('alerts: OAuth2-protected receiver', () => {
  it('gets a token by client_credentials with the secret in Basic auth, reuses it, and on a 401 fetches a fresh one and tries once more', async () => {
    const dir = await tempDir('alerts-oauth');
    const secret = 's3cr3t-Value';
    const secretFile = join(dir, 'client-secret');
    writeFileSync(secretFile, `${secret}\n`);
    const auth = await tokenEndpoint('sidecar-client', secret);
    servers.push(auth);
    const hook = await receiver();
    // The receiver takes the newest token only: tok-1 is refused once tok-2 exists, as after a rotation.
    let revoked = false;
    hook.answer = (_body, headers) => {
      const current = `Bearer ${auth.issued[auth.issued.length - 1]}`;
      if (headers.authorization !== current || (revoked && headers.authorization === 'Bearer tok-1')) return 401;
      return 201;
    };
    const { log, lines } = capture();
    const alerts = await open(
      dir,
      {
        aggregateMs: 0,
        retryIntervalMs: 50,
        subscriptions: [{ id: 'secured', events: ['*'], url: hook.url, oauth2: { tokenUrl: auth.url, clientId: 'sidecar-client', clientSecretFile: secretFile, scope: 'alerts:write' } }],
      },
      log,
    );
    alerts.discarded(discarded('one'));
    alerts.discarded(discarded('two'));
    await eventually(async () => (hook.accepted.length >= 2 ? true : undefined), 10_000, 20);
    expect(auth.issued).toEqual(['tok-1']);
    expect(hook.accepted.map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-1']);

    // The receiver stops taking tok-1: a 401, a fresh token, the same notification again, in one attempt.
    revoked = true;
    hook.answer = (_body, headers) => (headers.authorization === 'Bearer tok-2' ? 201 : 401);
    alerts.discarded(discarded('three'));
    await eventually(async () => (hook.accepted.length >= 3 ? true : undefined), 10_000, 20);
    expect(auth.issued).toEqual(['tok-1', 'tok-2']);
    const third = hook.received.filter((r) => meta(r.body, 'fapiInteractionIds') === 'three');
    expect(third.map((r) => [r.headers.authorization, r.status])).toEqual([
      ['Bearer tok-1', 401],
      ['Bearer tok-2', 201],
    ]);
    // Delivered once the sender has read the receiver's 201, a moment after the receiver counted it.
    const page = await eventually(async () => {
      const listed = alerts.listNotifications(new URLSearchParams('state=delivered')).body as { notifications: { attempts: number }[] };
      return listed.notifications.length === 3 ? listed : undefined;
    }, 10_000, 20);
    expect(page.notifications.map((n) => n.attempts)).toEqual([1, 1, 1]);

    // A wrong secret: the token endpoint refuses, the notification stays pending with the reason, nothing is sent.
    writeFileSync(secretFile, 'wrong');
    hook.answer = () => 401;
    alerts.discarded(discarded('four'));
    await eventually(async () => (auth.refused >= 1 ? true : undefined), 10_000, 20);
    // tok-2 is still cached: the receiver's 401 drops it, the next token request is refused.
    const pending = await eventually(async () => {
      const body = alerts.listNotifications(new URLSearchParams('state=pending')).body as { notifications: { lastError: string | null }[] };
      return body.notifications[0]?.lastError?.includes('refused') ? body.notifications : undefined;
    }, 10_000, 20);
    expect(pending[0]!.lastError).toBe('token endpoint refused the client: 401 invalid_client');
    await alerts.stop(1000);
    // Neither the secret nor a token is in a log line or in the store file.
    const logged = lines.join('');
    for (const secretText of [secret, 'tok-1', 'tok-2', Buffer.from(`sidecar-client:${secret}`).toString('base64')]) {
      expect(logged).not.toContain(secretText);
      for (const file of ['spool.db.alerts.db', 'spool.db.alerts.db-wal']) {
        let content = '';
        try {
          content = readFileSync(join(dir, file)).toString('latin1');
        } catch {
          // no WAL left after the close
        }
        expect(content).not.toContain(secretText);
      }
    }
  });
});
