import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, getJson, postJson, postTls } from '../helpers/http.js';
import { tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { sidecarEnv, startEmulatorProcess, startSidecarProcess, type StartedEmulator, type StartedSidecar } from '../helpers/stack.js';
import { meta, WebhookReceiver } from '../helpers/webhook-receiver.js';
import { adminJson } from '../helpers/admin.js';

/**
 * Webhook alerts end to end: `pcm-sidecar run` against `pcm-sidecar emulate`, reports the PCM refuses (queued 422s,
 * one report per batch, isolated at the first refusal: each becomes a refused dead letter, REPORT.DISCARDED), a
 * real receiver on 127.0.0.1 that fails for a while, the sidecar killed and stopped in between. Once the receiver
 * answers 201 it has each event exactly once, in the order the reports were refused.
 */

interface Listed {
  notifications: { transactionId: string; state: string; attempts: number; event: string }[];
}

describe('alerts end to end: a receiver that fails for a while, then answers 201, across restarts', () => {
  let emulator: StartedEmulator;
  let hook: WebhookReceiver;
  let ca: Buffer;
  let env: Record<string, string>;
  let sidecar: StartedSidecar | null = null;

  beforeAll(async () => {
    const dir = await tempDir('e2e-alerts');
    const pki = await testPki(dir);
    ca = await readFile(pki.caCert);
    emulator = await startEmulatorProcess(pki);
    hook = await WebhookReceiver.start();
    hook.answer = () => 500;
    env = sidecarEnv(pki, emulator, join(dir, 'spool.db'), {
      PCM_MAX_BATCH_SIZE: '1',
      PCM_MAX_REFUSALS: '1',
      // One batch at a time: the reports are refused, and so notified, in the order they were posted.
      PCM_MAX_CONCURRENT_BATCHES: '1',
      PCM_ALERTS_ID: 'ops',
      PCM_ALERTS_URL: hook.url,
      PCM_ALERTS_EVENTS: 'REPORT.DISCARDED',
      PCM_ALERTS_AGGREGATE_MS: '0',
      PCM_ALERTS_RETRY_INTERVAL_MS: '200',
      PCM_ALERTS_RATE_LIMIT_PER_MINUTE: '6000',
    });
  });

  afterAll(async () => {
    if (sidecar) await stopProc(sidecar.proc, 'SIGKILL');
    if (emulator) await stopProc(emulator.proc);
    await hook?.close();
  });

  const status = async (): Promise<{ spool: { discarded: number } }> => (await adminJson<{ spool: { discarded: number } }>(`${sidecar!.adminUrl}/v1/status`)).body;
  const listed = async (query: string): Promise<{ total: number; rows: Listed['notifications'] }> => {
    const answer = await adminJson<Listed>(`${sidecar!.adminUrl}/v1/notifications?${query}`);
    return { total: Number(answer.headers.contentrange), rows: answer.body.notifications };
  };

  /** Two reports the PCM refuses; resolves once both are dead letters and their notifications are stored. */
  async function refuseTwo(discardedBefore: number): Promise<string[]> {
    expect((await postTls(`${emulator.url}/emulator/faults`, { status: 422, count: 2 }, ca)).status).toBe(200);
    const reports = [validReport(0), validReport(2)];
    expect((await postJson(`${sidecar!.url}/v1/reports`, reports)).status).toBe(202);
    await eventually(async () => ((await status()).spool.discarded === discardedBefore + 2 ? true : undefined), 60_000, 100);
    await eventually(async () => ((await listed('state=pending')).total === discardedBefore + 2 ? true : undefined), 30_000, 100);
    return reports.map((r) => r.fapiInteractionId as string);
  }

  it('gets each REPORT.DISCARDED once, in order, by transactionId, after a SIGKILL and a SIGTERM in between', async () => {
    sidecar = await startSidecarProcess(env);
    const fapis = await refuseTwo(0);
    // The head is tried (and fails) again and again; the second waits behind it.
    await eventually(async () => (hook.received.length >= 3 ? true : undefined), 30_000, 50);
    expect(new Set(hook.received.map((r) => meta(r.body, 'fapiInteractionIds')))).toEqual(new Set([fapis[0]]));

    // A crash: nothing written is lost, the next process carries on.
    await stopProc(sidecar.proc, 'SIGKILL');
    sidecar = await startSidecarProcess(env);
    fapis.push(...(await refuseTwo(2)));
    const failedBefore = hook.received.length;
    await eventually(async () => (hook.received.length > failedBefore ? true : undefined), 30_000, 50);

    // An orderly stop, and a third process: the receiver now takes them.
    expect((await stopProc(sidecar.proc, 'SIGTERM')).code).toBe(0);
    sidecar = await startSidecarProcess(env);
    hook.answer = () => 201;
    await eventually(async () => ((await listed('state=delivered')).total === 4 ? true : undefined), 60_000, 100);

    const accepted = hook.accepted;
    expect(accepted).toHaveLength(4);
    expect(accepted.map((r) => meta(r.body, 'fapiInteractionIds'))).toEqual(fapis);
    expect(accepted.every((r) => r.body.eventoNotificacao === 'REPORT.DISCARDED' && meta(r.body, 'reason') === 'refused' && meta(r.body, 'count') === '1')).toBe(true);
    expect(accepted.every((r) => meta(r.body, 'message')?.startsWith('Refused by the PCM, not sent again: report API answered 422'))).toBe(true);
    const ids = accepted.map((r) => r.body.transactionId);
    expect(new Set(ids).size).toBe(4);
    // Every failed request was one of these four notifications tried again: no notification made twice.
    expect(new Set(hook.received.map((r) => r.body.transactionId))).toEqual(new Set(ids));
    const all = await listed('');
    expect(all.total).toBe(4);
    expect(all.rows.map((n) => n.transactionId)).toEqual(ids);
    expect(all.rows.every((n) => n.state === 'delivered' && n.attempts >= 1)).toBe(true);
    expect(all.rows[0]!.attempts).toBeGreaterThan(1);

    // Stopped once more: nothing is sent again.
    expect((await stopProc(sidecar.proc, 'SIGTERM')).code).toBe(0);
    sidecar = null;
    expect(hook.accepted).toHaveLength(4);
  });
});
