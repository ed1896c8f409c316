import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { adminJson } from '../helpers/admin.js';
import { postJson } from '../helpers/http.js';
import { tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { offlineConfig, sidecarEnv, startSidecarProcess } from '../helpers/stack.js';

/**
 * The admin listener: health, readiness and metrics open, the admin API behind its token (off without a token file),
 * and the ingest listener left with its POST routes and /healthz. Certificates that do not exist: nothing is sent.
 */

const bounded = <T>(work: Promise<T>, ms: number): Promise<T | 'still running'> =>
  Promise.race([work, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms).unref())]);

describe('admin listener', () => {
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    sidecar = await startSidecar(offlineConfig(await tempDir('admin-listener')), createLogger('silent'));
  });
  afterAll(async () => sidecar?.stop());

  it('serves health, readiness and metrics without a token, on its own port', async () => {
    expect(new URL(sidecar.adminUrl).port).not.toBe(new URL(sidecar.ingestUrl).port);
    expect(new URL(sidecar.adminUrl).port).not.toBe('9431');
    expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, [validReport(0)])).status).toBe(202);
    const metrics = await request(`${sidecar.adminUrl}/metrics`);
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(await metrics.body.text()).toMatch(/^pcm_sidecar_ingest_items_total\{route="\/v1\/reports",outcome="accepted"\} 1$/m);
    expect((await adminJson(`${sidecar.adminUrl}/healthz`, { token: null })).body).toEqual({ status: 'ok' });
    // Not ready: the organisations' certificates do not exist.
    const ready = await adminJson<{ ready: boolean }>(`${sidecar.adminUrl}/readyz`, { token: null });
    expect([ready.status, ready.body.ready]).toEqual([503, false]);
  });

  it('the ingest listener keeps its POST routes and /healthz; metrics, readiness and status are no longer there', async () => {
    expect((await adminJson(`${sidecar.ingestUrl}/healthz`)).status).toBe(200);
    for (const path of ['/metrics', '/readyz', '/v1/status', '/v1/notifications', '/v1/reconciliation']) {
      expect((await adminJson(`${sidecar.ingestUrl}${path}`)).status, path).toBe(404);
    }
  });

  it('the admin API: status with the token, 401 without it or with a wrong one, 405 and 404 with {"message"}', async () => {
    const status = await adminJson<{ spool: { pending: number } }>(`${sidecar.adminUrl}/v1/status`);
    expect(status.status).toBe(200);
    expect(status.body.spool.pending).toBeGreaterThan(0);
    for (const token of [null, 'not-the-admin-token-but-long-enough']) {
      const refused = await adminJson(`${sidecar.adminUrl}/v1/status`, { token });
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Bearer');
      expect(Object.keys(refused.body as object)).toEqual(['message']);
      // A malformed escape in a route's {id} says nothing before the token either.
      expect((await adminJson(`${sidecar.adminUrl}/v1/reports/%E0%A4%A`, { token })).status).toBe(401);
    }
    expect((await adminJson(`${sidecar.adminUrl}/v1/reports/%E0%A4%A`)).status).toBe(400);
    const wrongMethod = await adminJson(`${sidecar.adminUrl}/v1/status`, { method: 'POST' });
    expect([wrongMethod.status, wrongMethod.headers.allow]).toEqual([405, 'GET']);
    expect((await adminJson(`${sidecar.adminUrl}/v1/quarantine/replay`)).headers.allow).toBe('POST');
    expect((await adminJson(`${sidecar.adminUrl}/metrics`, { method: 'POST' })).status).toBe(405);
    const reconciliation = await adminJson(`${sidecar.adminUrl}/v1/reconciliation?status=SINGLE`);
    expect([reconciliation.status, Object.keys(reconciliation.body as object)]).toEqual([400, ['message']]);
  });

  it('an orderly stop is not held open by a kept-alive scrape', async () => {
    const own = await startSidecar(offlineConfig(await tempDir('admin-keepalive')), createLogger('silent'));
    const agent = new Agent({ keepAliveTimeout: 600_000, keepAliveMaxTimeout: 600_000 });
    try {
      const res = await request(`${own.adminUrl}/metrics`, { dispatcher: agent });
      await res.body.text();
      expect(res.statusCode).toBe(200);
      // A grace far longer than the bound: only closing the idle connection lets the stop end within it.
      expect(await bounded(own.stop(120_000), 20_000)).toBeUndefined();
    } finally {
      await agent.close();
    }
  });
});

describe('admin listener without PCM_ADMIN_TOKEN_FILE', () => {
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    sidecar = await startSidecar(offlineConfig(await tempDir('admin-off'), { admin: { tokenFile: undefined } }), createLogger('silent'));
  });
  afterAll(async () => sidecar?.stop());

  it('the admin API answers 404 saying it is off; metrics and health still answer', async () => {
    for (const path of ['/v1/status', '/v1/reports', '/v1/stats', '/v1/nothing']) {
      const off = await adminJson(`${sidecar.adminUrl}${path}`);
      expect(off.status, path).toBe(404);
      expect(off.body, path).toEqual({ message: 'the admin API is off: set PCM_ADMIN_TOKEN_FILE' });
    }
    expect((await request(`${sidecar.adminUrl}/metrics`)).statusCode).toBe(200);
    expect((await adminJson(`${sidecar.adminUrl}/healthz`)).status).toBe(200);
  });
});

describe('pcm-sidecar run with PCM_ADMIN_PORT=0', () => {
  it('logs the admin URL at start, serves metrics there and stops in order', async () => {
    const dir = await tempDir('admin-run');
    const pki = await testPki(dir);
    const env = sidecarEnv(pki, { url: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' }, join(dir, 'spool.db'));
    const sidecar = await startSidecarProcess(env);
    try {
      expect(sidecar.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await request(`${sidecar.adminUrl}/metrics`)).statusCode).toBe(200);
      expect((await adminJson(`${sidecar.adminUrl}/v1/status`)).status).toBe(200);
    } finally {
      expect((await stopProc(sidecar.proc)).code).toBe(0);
    }
  });
});
