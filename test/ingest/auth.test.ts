import Database from 'better-sqlite3';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { PkiFiles } from '../../src/pki/certs.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { eventually } from '../helpers/http.js';
import { CLIENT_ORG, SERVER_ORG, tempDir, testPki } from '../helpers/pki.js';
import { fixedOpendata, validReport } from '../helpers/reports.js';
import { offlineConfig } from '../helpers/stack.js';

/**
 * An aggregator's ingest (src/ingest/auth.ts): a bearer token from PCM_INGEST_TOKEN_FILE and a client certificate
 * over PCM_INGEST_TLS_*, real TLS on 127.0.0.1 with certificates made in setup. The sender has no usable
 * certificate, so these tests see ingest and spool only.
 */

const TOKEN = 'a3f1c0ffee5eed0123456789abcdef00';
const SECOND = 'rotated-token-0123456789abcdef01';

interface Answer {
  status: number;
  body: { error?: string; code?: string; accepted?: number; rejected?: number; results?: { status: string; errors?: { rule: string; message: string }[] }[] };
  headers: Record<string, string | string[] | undefined>;
}

describe('ingest of an aggregator: token and client certificate', () => {
  let dir: string;
  let pki: PkiFiles;
  let tokenFile: string;
  let sidecar: RunningSidecar;
  let withCert: Agent;
  let withoutCert: Agent;

  beforeAll(async () => {
    dir = await tempDir('ingest-auth');
    pki = await testPki(dir);
    tokenFile = join(dir, 'ingest-token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const config = offlineConfig(dir, {
      ingest: { tokenFile, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey, clientCaFile: pki.caCert },
      token: { credentialRetryMs: 50 },
    });
    sidecar = await startSidecar(config, createLogger('silent'));
    const ca = await readFile(pki.caCert);
    const client = pki.clients[CLIENT_ORG]!;
    withCert = new Agent({ connect: { ca, cert: await readFile(client.cert), key: await readFile(client.key) } });
    withoutCert = new Agent({ connect: { ca } });
  });
  afterAll(async () => {
    await Promise.all([withCert?.close(), withoutCert?.close()]);
    await sidecar?.stop();
  });

  async function call(path: string, options: { body?: unknown; token?: string; agent?: Agent } = {}): Promise<Answer> {
    const res = await request(`${sidecar.ingestUrl}${path}`, {
      method: options.body === undefined ? 'GET' : 'POST',
      dispatcher: options.agent ?? withCert,
      headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: (text.startsWith('{') ? JSON.parse(text) : {}) as Answer['body'], headers: res.headers };
  }

  function stored(): { lane: string; n: number }[] {
    const db = new Database(join(dir, 'spool.db'), { readonly: true });
    try {
      return db.prepare('SELECT lane, count(*) AS n FROM reports GROUP BY lane ORDER BY lane').all() as { lane: string; n: number }[];
    } finally {
      db.close();
    }
  }

  it('listens on HTTPS', () => {
    expect(sidecar.ingestUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('a POST without the token, or with another, is 401 in JSON; nothing is stored or quarantined', async () => {
    const before = sidecar.spool.counts();
    const none = await call('/v1/reports', { body: [validReport(0)] });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'PCM_INGEST_UNAUTHORIZED' });
    expect(none.body.error).toContain('bearer token is required');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const wrong = await call('/v1/reports', { body: [validReport(0)], token: `${TOKEN.slice(0, -1)}1` });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('Unauthorized: the bearer token is not one this ingest accepts');
    for (const route of ['/v1/interactions', '/v1/gateways/kong']) expect((await call(route, { body: {} })).status).toBe(401);
    expect(sidecar.spool.counts()).toEqual(before);
  });

  it('a large body refused before it is read still gets its 401, on a connection that stays usable', async () => {
    const big = Array.from({ length: 4000 }, (_, i) => validReport(i));
    const wrong = await call('/v1/reports', { body: big, token: `${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe('PCM_INGEST_UNAUTHORIZED');
    expect((await call('/healthz')).status).toBe(200);
  });

  it('a client without a certificate the client CA signs does not get past the TLS handshake, token or not', async () => {
    await expect(call('/v1/reports', { body: [validReport(0)], token: TOKEN, agent: withoutCert })).rejects.toThrow();
    await expect(call('/healthz', { agent: withoutCert })).rejects.toThrow();
  });

  it('token and certificate: stored, and answered after the commit', async () => {
    const answer = await call('/v1/reports', { body: [validReport(0), validReport(1)], token: TOKEN });
    expect(answer.status).toBe(202);
    expect(answer.body.accepted).toBe(2);
  });

  it('health needs no token (a certificate still); readiness, metrics and status are on the admin listener only', async () => {
    expect((await call('/healthz')).status).toBe(200);
    for (const path of ['/readyz', '/metrics', '/v1/status']) expect((await call(path, { token: TOKEN })).status, path).toBe(404);
    const metrics = await request(`${sidecar.adminUrl}/metrics`);
    expect(metrics.statusCode).toBe(200);
    expect(await metrics.body.text()).toMatch(/pcm_sidecar_ingest_request_duration_seconds_count\{route="\/v1\/reports",status_code="401"\} [1-9]/);
  });

  it('a resumed TLS session keeps its certificate; a client without one is refused at the handshake every time', async () => {
    const ca = await readFile(pki.caCert);
    const client = pki.clients[CLIENT_ORG]!;
    const identity = { cert: await readFile(client.cert), key: await readFile(client.key) };
    for (let i = 0; i < 2; i++) {
      const refused = await rawPost(sidecar.ingestUrl, { ca }, undefined).catch(() => ({ status: 0 }));
      expect(refused.status).toBe(0);
    }
    for (const [name, extra, expected] of [['with one', identity, 202]] as const) {
      const first = await rawPost(sidecar.ingestUrl, { ca, ...extra }, undefined);
      expect(first.status, name).toBe(expected);
      expect(first.session, name).toBeDefined();
      const resumed = await rawPost(sidecar.ingestUrl, { ca, ...extra }, first.session);
      expect(resumed.reused, name).toBe(true);
      expect(resumed.status, name).toBe(expected);
    }
  });

  it('a changed token file is used without a restart; several lines are several tokens (rotation)', async () => {
    await writeFile(tokenFile, `${SECOND}\n${TOKEN}\n`);
    await eventually(async () => ((await call('/v1/reports', { body: [validReport(2)], token: SECOND })).status === 202 ? true : undefined), 10_000, 50);
    expect((await call('/v1/reports', { body: [validReport(4)], token: TOKEN })).status).toBe(202);
    await writeFile(tokenFile, `${SECOND}\n`);
    await eventually(async () => ((await call('/v1/reports', { body: [validReport(6)], token: TOKEN })).status === 401 ? true : undefined), 10_000, 50);
    // A file that cannot be used keeps the tokens loaded before.
    await writeFile(tokenFile, 'x\n');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await call('/v1/reports', { body: [validReport(8)], token: SECOND })).status).toBe(202);
    await writeFile(tokenFile, `${TOKEN}\n`);
    await eventually(async () => ((await call('/v1/reports', { body: [validReport(10)], token: TOKEN })).status === 202 ? true : undefined), 10_000, 50);
  });

  it('/v1/reports?orgId= names the organisation of opendata reports, which must be one this sidecar reports for', async () => {
    const at = (ms: number): string => new Date(Date.now() - ms).toISOString();
    // Two organisations and no PCM_OPENDATA_ORG_ID: without ?orgId= an opendata report has no organisation here.
    const plain = await call('/v1/reports', { body: [fixedOpendata({ timestamp: at(1000) })], token: TOKEN });
    expect(plain.status).toBe(207);
    expect(plain.body.results?.[0]?.errors?.[0]?.rule).toBe('opendata_org');
    const server = await call(`/v1/reports?orgId=${SERVER_ORG.toUpperCase()}`, { body: [fixedOpendata({ timestamp: at(2000) }), fixedOpendata({ timestamp: at(3000) })], token: TOKEN });
    expect(server.status).toBe(202);
    const unknown = await call('/v1/reports?orgId=0b5d4e6f-0000-4000-8000-000000000001', { body: [fixedOpendata({ timestamp: at(4000) })], token: TOKEN });
    expect(unknown.status).toBe(207);
    expect(unknown.body.results?.[0]?.errors?.[0]).toMatchObject({ rule: 'reporter_org' });
    // A private report names its reporter itself: ?orgId= does not move it.
    expect((await call(`/v1/reports?orgId=${SERVER_ORG}`, { body: [validReport(12)], token: TOKEN })).status).toBe(202);
    const lanes = Object.fromEntries(stored().map(({ lane, n }) => [lane, n]));
    expect(lanes[`opendata:${SERVER_ORG}`]).toBe(2);
    expect(lanes[`opendata:${CLIENT_ORG}`]).toBeUndefined();
    expect(lanes[`private:${CLIENT_ORG}`]).toBeGreaterThan(0);
  });
});

/** One POST /v1/reports (an empty array) with the token over a raw TLS socket, resuming `session` when given; the session it ends with. */
async function rawPost(
  ingestUrl: string,
  tlsOptions: { ca: Buffer; cert?: Buffer; key?: Buffer },
  session: Buffer | undefined,
): Promise<{ status: number; reused: boolean; session: Buffer | undefined }> {
  const { port } = new URL(ingestUrl);
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    let text = '';
    let reused = false;
    const socket = connect({ host: '127.0.0.1', port: Number(port), ...tlsOptions, ...(session ? { session } : {}) }, () => {
      reused = socket.isSessionReused();
      socket.end(`POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]`);
    });
    // TLS 1.3 hands the session over after the handshake, in a message of its own.
    socket.on('session', (s: Buffer) => (latest = s));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), reused, session: latest }));
    setTimeout(() => socket.destroy(new Error('no answer within 5 s')), 5000).unref();
  });
}

describe('ingest with a token over plain HTTP', () => {
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    const dir = await tempDir('ingest-auth-plain');
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${TOKEN}\r\n\r\n`);
    sidecar = await startSidecar(offlineConfig(dir, { ingest: { tokenFile } }), createLogger('silent'));
  });
  afterAll(async () => sidecar?.stop());

  it('takes the token (line ends of any editor ignored) and refuses without it', async () => {
    expect(sidecar.ingestUrl).toMatch(/^http:\/\//);
    const post = async (headers: Record<string, string>): Promise<number> => {
      const res = await request(`${sidecar.ingestUrl}/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(validReport(0)) });
      await res.body.text();
      return res.statusCode;
    };
    expect(await post({})).toBe(401);
    expect(await post({ authorization: `Basic ${TOKEN}` })).toBe(401);
    expect(await post({ authorization: `bearer  ${TOKEN}` })).toBe(202);
  });
});
