import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import { startInProcessEmulator } from '../helpers/stack.js';
import type { PkiFiles } from '../../src/pki/certs.js';
import { CLIENT_ORG, tempDir, testPki } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';

describe('emulator, first part: token over mTLS and the private report API', () => {
  let pki: PkiFiles;
  let emulator: PcmEmulator;
  let agent: Agent;
  let token: string;

  beforeAll(async () => {
    pki = await testPki(await tempDir('emulator'));
    const ca = await readFile(pki.caCert);
    emulator = await startInProcessEmulator(pki);
    agent = new Agent({ connect: { ca, cert: await readFile(pki.clients[CLIENT_ORG]!.cert), key: await readFile(pki.clients[CLIENT_ORG]!.key) } });
    const res = await call('/token/', JSON.stringify({ client_id: 'client-ss', grant_type: 'client_credentials' }));
    expect(res.status).toBe(200);
    token = (res.body as { access_token: string }).access_token;
  });
  afterAll(async () => {
    await agent.close();
    await emulator.stop();
  });

  async function call(path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
    const base = path.startsWith('/token') ? emulator.authUrl : emulator.url;
    const res = await request(`${base}${path}`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', ...headers }, body });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : null };
  }
  const report = (body: unknown, path = '/report-api/v1/private/report', type = 'application/json') =>
    call(path, typeof body === 'string' ? body : JSON.stringify(body), { authorization: `Bearer ${token}`, 'content-type': type });

  it('issues a 6-hour bearer token for client_credentials, and refuses other grants', async () => {
    const form = await call('/token-fresh/', 'client_id=client-ss&grant_type=client_credentials', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.body).toMatchObject({ expires_in: 21600, token_type: 'Bearer' });
    // /token/ hands back the cached token with its remaining lifetime (release 2025D); /token-fresh/ mints one.
    const cached = (await call('/token/', JSON.stringify({ client_id: 'client-ss', grant_type: 'client_credentials' }))).body as { access_token: string; expires_in: number };
    expect(cached.access_token).toBe((form.body as { access_token: string }).access_token);
    expect(cached.expires_in).toBeLessThanOrEqual(21600);
    const wrongGrant = await call('/token/', JSON.stringify({ client_id: 'x', grant_type: 'password' }));
    expect(wrongGrant).toEqual({ status: 400, body: expect.objectContaining({ error: 'unsupported_grant_type' }) });
  });

  it('answers 200 in request order with and without the trailing slash, 207 when an item is DISCARDED', async () => {
    const a = validReport(0);
    const b = validReport(2);
    const ok = await report([a, b]);
    expect(ok.status).toBe(200);
    expect((ok.body as { status: string }[]).map((r) => r.status)).toEqual(['ACCEPTED', 'ACCEPTED']);
    expect((await report([validReport(4)], '/report-api/v1/private/report/')).status).toBe(200);
    const missing = validReport(6);
    delete missing.httpMethod;
    const mixed = await report([validReport(8), missing]);
    expect(mixed.status).toBe(207);
    expect(mixed.body).toEqual([
      expect.objectContaining({ status: 'ACCEPTED' }),
      expect.objectContaining({ status: 'DISCARDED', message: 'Missing fields: httpMethod' }),
    ]);
  });

  it('refuses whole requests: 401 without a token, 400 for a non-array, 413 over 5000 items, 415 for other types', async () => {
    const noToken = await call('/report-api/v1/private/report', '[]');
    expect(noToken.status).toBe(401);
    expect(await report(validReport(10))).toEqual({ status: 400, body: { message: 'Invalid payload format: MUST be an array' } });
    const tooMany = Array.from({ length: 5001 }, (_, i) => validReport(i));
    expect((await report(tooMany)).status).toBe(413);
    expect((await report('[]', '/report-api/v1/private/report', 'text/plain')).status).toBe(415);
  });

  it('counts requests by route and status, reports by status, distinct ids and duplicates', async () => {
    const before = emulator.snapshot();
    const r = validReport(12);
    await report([r]);
    await report([r]);
    const after = emulator.snapshot();
    expect(after.duplicatesReceived - before.duplicatesReceived).toBe(1);
    expect(after.distinctFapiInteractionIds - before.distinctFapiInteractionIds).toBe(1);
    expect((after.reports.ACCEPTED ?? 0) - (before.reports.ACCEPTED ?? 0)).toBe(2);
    expect(after.requests['POST /report-api/v1/private/report']?.['413']).toBe(1);
  });
});
