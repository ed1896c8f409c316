import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { eventually, postJson } from '../helpers/http.js';
import { CLIENT_ORG, tempDir, testPki } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { startInProcessEmulator } from '../helpers/stack.js';
import { meta, WebhookReceiver } from '../helpers/webhook-receiver.js';
import { adminSection } from '../helpers/admin.js';

/** TOKEN.FAILED through the sidecar's wiring: the emulator refuses the client_id, the lane is not ready, the webhook hears it. */
describe('TOKEN.FAILED from a running sidecar', () => {
  let emulator: PcmEmulator;
  let sidecar: RunningSidecar;
  let hook: WebhookReceiver;

  beforeAll(async () => {
    const dir = await tempDir('alerts-token');
    const pki = await testPki(dir);
    // Only `client-ss` is known: the sidecar's `wrong-client` gets 400 invalid_client.
    emulator = await startInProcessEmulator(pki, { clients: new Map([['client-ss', CLIENT_ORG]]) });
    hook = await WebhookReceiver.start();
    const config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: join(dir, 'spool.db') },
      pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile: pki.caCert },
      organisations: [{ orgId: CLIENT_ORG, clientId: 'wrong-client', certFile: pki.clients[CLIENT_ORG]!.cert, keyFile: pki.clients[CLIENT_ORG]!.key }],
      sender: { maxBatchDelayMs: 10, retryInitialDelayMs: 20, retryMaxDelayMs: 200 },
      rate: { fleetSize: 1 },
      // A refused token is asked again at most this often.
      token: { credentialRetryMs: 200 },
      alerts: { aggregateMs: 0, subscriptions: [{ events: ['TOKEN.FAILED'], url: hook.url }] },
    });
    sidecar = await startSidecar(config, createLogger('silent'));
  });
  afterAll(async () => {
    await sidecar?.stop();
    await emulator?.stop();
    await hook?.close();
  });

  it('is raised once with the lane, the organisation and the readiness reason', async () => {
    expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, validReport(0))).status).toBe(202);
    const got = await eventually(async () => hook.accepted[0], 30_000, 50);
    expect(got.body.eventoNotificacao).toBe('TOKEN.FAILED');
    expect(meta(got.body, 'state')).toBe('raised');
    expect(meta(got.body, 'lane')).toBe(`private:${CLIENT_ORG}`);
    expect(meta(got.body, 'orgId')).toBe(CLIENT_ORG);
    expect(meta(got.body, 'message')).toMatch(/^token request for client_id wrong-client refused: .*invalid_client/);
    // The lane keeps asking (and being refused): still one notification.
    await eventually(async () => (sidecar.sender.status()[0]!.tokenRefreshes.refused >= 2 ? true : undefined), 30_000, 50);
    expect(hook.received).toHaveLength(1);
  });
});
