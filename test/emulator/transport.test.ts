import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { readFile } from 'node:fs/promises';
import type { PkiFiles } from '../../src/pki/certs.js';
import {
  BANRISUL,
  BV,
  CAIXA,
  EmulatorHarness,
  OPENDATA,
  PRIVATE,
  SEED_ORGS,
  clientReport,
  makePki,
  opendataReport,
  serverReport,
  transportError,
} from './harness.js';

/**
 * Issue #4, whole-request answers of the report API (pcm-rules.md §8.1, §11) and the auth host's token endpoint
 * (§11: client_credentials over mTLS, /token/ cached, /token-fresh/ new), sent straight to the emulator.
 */

let pki: PkiFiles;

beforeAll(async () => {
  pki = await makePki(SEED_ORGS, 'transport');
});

describe('whole-request answers of the report API', () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki);
  });
  afterAll(async () => h.close());

  const NOT_AN_ARRAY = { message: 'Invalid payload format: MUST be an array' };

  it.each([
    ['an object', JSON.stringify(clientReport(BV, CAIXA))],
    ['a string', '"report"'],
    ['a number', '42'],
    ['null', 'null'],
    ['text that is not JSON', '[{"role": "CLIENT",'],
  ])('400 for %s', async (_what, body) => {
    expect(await h.send(BV, body)).toMatchObject({ status: 400, body: NOT_AN_ARRAY });
    expect(await h.send(BV, body, OPENDATA)).toMatchObject({ status: 400, body: NOT_AN_ARRAY });
  });

  it('413 over 5000 items (private and opendata); exactly 5000 are taken', async () => {
    const many = (n: number) => Array.from({ length: n }, () => opendataReport());
    expect(await h.send(BV, many(5001), OPENDATA)).toMatchObject({ status: 413, body: { message: 'Record limit exceeded' } });
    const ok = await h.send(BV, many(5000), OPENDATA);
    expect(ok.status).toBe(200);
    expect(ok.body).toHaveLength(5000);
    const privateItems = Array.from({ length: 5001 }, () => clientReport(BV, CAIXA));
    expect(await h.send(BV, privateItems)).toMatchObject({ status: 413, body: { message: 'Record limit exceeded' } });
    expect((await h.send(BV, privateItems.slice(1))).status).toBe(200);
  });

  it('413 over the 10 MB body limit, before parsing; the answer arrives although the body was not read to its end', async () => {
    const before = (await h.reports()).meta.totalRecords;
    const huge = `["${'x'.repeat(10 * 1000 * 1000)}"]`; // 10,000,004 bytes
    expect(await h.send(BV, huge)).toMatchObject({ status: 413, body: { message: 'Record limit exceeded' } });
    expect((await h.reports()).meta.totalRecords).toBe(before);
    // The emulator still answers on a new connection.
    expect((await h.send(BV, [clientReport(BV, CAIXA)])).status).toBe(200);
  });

  it('415 for a body that is not declared JSON; a charset parameter is fine', async () => {
    const items = JSON.stringify([clientReport(BV, CAIXA)]);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/x-ndjson']) {
      expect(await h.send(BV, items, PRIVATE, { contentType: type })).toMatchObject({ status: 415, body: { message: 'Unsupported Media Type' } });
    }
    expect((await h.send(BV, items, OPENDATA, { contentType: 'text/plain' })).status).toBe(415);
    expect((await h.send(BV, items, PRIVATE, { contentType: 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('401 without a bearer token, with an unknown one, a non-Bearer scheme, or a revoked one', async () => {
    const items = [clientReport(BV, CAIXA)];
    const unauthorized = { status: 401, body: { message: 'Unauthorized' } };
    expect(await h.call(PRIVATE, items)).toMatchObject(unauthorized);
    expect(await h.call(OPENDATA, [opendataReport()])).toMatchObject(unauthorized);
    expect(await h.call(PRIVATE, items, { token: 'not-a-token' })).toMatchObject(unauthorized);
    const token = await h.token(BV);
    expect(await h.call(PRIVATE, items, { headers: { authorization: `Basic ${token}` } })).toMatchObject(unauthorized);
    expect((await h.call(PRIVATE, items, { token })).status).toBe(200);

    const revoked = await h.call<{ revoked: number }>('/emulator/tokens/revoke', {});
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked).toBeGreaterThanOrEqual(1);
    expect(await h.call(PRIVATE, items, { token })).toMatchObject(unauthorized);
    expect((await h.call(`${PRIVATE}/${items[0]!.fapiInteractionId as string}`, undefined, { token })).status).toBe(401);
    h.forgetTokens();
    expect((await h.send(BV, [clientReport(BV, CAIXA)])).status).toBe(200);
  });

  it('403 when a report names another reporter than the token’s organisation; the whole batch is refused', async () => {
    const before = (await h.reports()).meta.totalRecords;
    const bvClient = clientReport(BV, CAIXA);
    // A CLIENT report is BV's to send (clientOrgId); Caixa's token is refused.
    expect(await h.send(CAIXA, [bvClient])).toMatchObject({ status: 403, body: { message: 'Forbidden: Requester id mismatch with clientOrgId' } });
    // A SERVER report is Caixa's to send (serverOrgId); BV's token is refused — even with valid items around it.
    expect(await h.send(BV, [clientReport(BV, CAIXA), serverReport(bvClient)])).toMatchObject({
      status: 403,
      body: { message: 'Forbidden: Requester id mismatch with serverOrgId' },
    });
    expect((await h.reports()).meta.totalRecords).toBe(before);
    // The right tokens pass; UUID case does not matter.
    expect((await h.send(BV, [clientReport(BV.toUpperCase(), CAIXA)])).status).toBe(200);
    expect((await h.send(CAIXA, [serverReport(bvClient)])).status).toBe(200);
    // Opendata reports name no organisation: any token may send them.
    expect((await h.send(BANRISUL, [opendataReport()], OPENDATA)).status).toBe(200);
  });

  it('404 for unknown routes and methods', async () => {
    const token = await h.token(BV);
    expect((await h.call('/report-api/v1/private/reports', [], { token })).status).toBe(404);
    expect((await h.call(PRIVATE, [], { token, method: 'PUT' })).status).toBe(404);
    expect((await h.call('/emulator/nothing')).status).toBe(404);
  });
});

describe('401 for expired tokens (tokenExpiresIn 0: every token is already expired when issued)', () => {
  it('the token is issued with expires_in 0 and refused by the report API', async () => {
    const h = await EmulatorHarness.start(pki, { tokenExpiresIn: 0 });
    try {
      const res = await h.tokenRequest(BV, JSON.stringify({ client_id: 'ss-062c5edb', grant_type: 'client_credentials' }));
      expect(res).toMatchObject({ status: 200, body: { expires_in: 0, token_type: 'Bearer' } });
      const token = (res.body as { access_token: string }).access_token;
      expect(await h.call(PRIVATE, [clientReport(BV, CAIXA)], { token })).toMatchObject({ status: 401, body: { message: 'Unauthorized' } });
      // An expired token is not handed out again from the cache: /token/ mints another.
      const again = await h.tokenRequest(BV, JSON.stringify({ client_id: 'ss-062c5edb', grant_type: 'client_credentials' }));
      expect((again.body as { access_token: string }).access_token).not.toBe(token);
    } finally {
      await h.close();
    }
  });
});

describe('429 above the rate limit', () => {
  /** A bounded burst: `n` report requests at once. */
  async function burst(h: EmulatorHarness, n: number) {
    const token = await h.token(BV);
    return Promise.all(Array.from({ length: n }, () => h.call(PRIVATE, [], { token })));
  }

  it('rateLimit 5: a burst of 30 gets some 429 "Too Many Requests" with Retry-After: 1; the peak is in /emulator/stats', async () => {
    const h = await EmulatorHarness.start(pki, { rateLimit: 5 });
    try {
      const answers = await burst(h, 30);
      const limited = answers.filter((a) => a.status === 429);
      // 30 requests fall into at most a few one-second windows of 5: most are refused.
      expect(limited.length).toBeGreaterThan(0);
      expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
      expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
      for (const a of limited) {
        expect(a.body).toEqual({ message: 'Too Many Requests' });
        expect(a.headers['retry-after']).toBe('1');
      }
      const stats = await h.call<{ peakRequestsPerSecond: number; requests: Record<string, Record<string, number>> }>('/emulator/stats');
      expect(stats.body.peakRequestsPerSecond).toBeGreaterThan(5);
      expect(stats.body.peakRequestsPerSecond).toBeLessThanOrEqual(30);
      expect(stats.body.requests[`POST ${PRIVATE}`]?.['429']).toBe(limited.length);
    } finally {
      await h.close();
    }
  });

  it('retryAfter false: the 429 comes without Retry-After', async () => {
    const h = await EmulatorHarness.start(pki, { rateLimit: 5, retryAfter: false });
    try {
      const limited = (await burst(h, 30)).filter((a) => a.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      for (const a of limited) expect(a.headers['retry-after']).toBeUndefined();
    } finally {
      await h.close();
    }
  });

  it('under the limit nothing is refused, and the peak counts what was seen', async () => {
    const h = await EmulatorHarness.start(pki, { rateLimit: 1000 });
    try {
      expect((await burst(h, 20)).every((a) => a.status === 200)).toBe(true);
      const stats = await h.call<{ peakRequestsPerSecond: number }>('/emulator/stats');
      expect(stats.body.peakRequestsPerSecond).toBeGreaterThanOrEqual(1);
      expect(stats.body.peakRequestsPerSecond).toBeLessThanOrEqual(20);
    } finally {
      await h.close();
    }
  });
});

describe('token endpoint (auth host, strict mTLS)', () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki);
  });
  afterAll(async () => h.close());

  const json = (fields: Record<string, string>) => JSON.stringify(fields);
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const FORM = 'application/x-www-form-urlencoded';
  type TokenBody = { access_token: string; expires_in: number; token_type: string };

  it('issues a 6-hour Bearer token for a JSON body (the manual) and for a form body (v3.1.0)', async () => {
    const a = await h.tokenRequest(BV, json({ client_id: 'ss-062c5edb', grant_type: 'client_credentials' }));
    expect(a).toMatchObject({ status: 200, body: { access_token: expect.any(String), expires_in: 21600, token_type: 'Bearer' } });
    const b = await h.tokenRequest(CAIXA, form({ client_id: 'ss-c160a6f5', grant_type: 'client_credentials', client_secret: 'ignored' }), FORM);
    expect(b).toMatchObject({ status: 200, body: { access_token: expect.any(String), expires_in: 21600, token_type: 'Bearer' } });
    // The token's organisation is the certificate's: Caixa's token sends Caixa's reports.
    const caixaToken = (b.body as TokenBody).access_token;
    const c = clientReport(BV, CAIXA);
    expect((await h.call(PRIVATE, [serverReport(c)], { token: caixaToken })).status).toBe(200);
    expect((await h.call(PRIVATE, [c], { token: caixaToken })).status).toBe(403);
  });

  it('/token/ returns the cached token with its remaining lifetime; /token-fresh/ mints a new one, which is then cached', async () => {
    const body = json({ client_id: 'ss-2a01e202', grant_type: 'client_credentials' });
    const first = (await h.tokenRequest(BANRISUL, body)).body as TokenBody;
    const cached = (await h.tokenRequest(BANRISUL, body, 'application/json', '/token')).body as TokenBody;
    expect(cached.access_token).toBe(first.access_token);
    expect(cached.expires_in).toBeLessThanOrEqual(21600);
    expect(cached.expires_in).toBeGreaterThan(21600 - 60);

    const fresh = await h.tokenRequest(BANRISUL, body, 'application/json', '/token-fresh/');
    expect(fresh).toMatchObject({ status: 200, body: { expires_in: 21600, token_type: 'Bearer' } });
    expect((fresh.body as TokenBody).access_token).not.toBe(first.access_token);
    expect(((await h.tokenRequest(BANRISUL, body)).body as TokenBody).access_token).toBe((fresh.body as TokenBody).access_token);
    // Both remain valid until they expire.
    for (const token of [first.access_token, (fresh.body as TokenBody).access_token]) {
      expect((await h.call(PRIVATE, [clientReport(BANRISUL, BV)], { token })).status).toBe(200);
    }
  });

  it('400 unsupported_grant_type for another grant or none; 400 invalid_client without client_id', async () => {
    for (const fields of [{ client_id: 'ss-062c5edb', grant_type: 'password' }, { client_id: 'ss-062c5edb' }] as Record<string, string>[]) {
      expect(await h.tokenRequest(BV, json(fields))).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    }
    expect(await h.tokenRequest(BV, form({ grant_type: 'authorization_code' }), FORM)).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    expect(await h.tokenRequest(BV, json({ grant_type: 'client_credentials' }))).toMatchObject({ status: 400, body: { error: 'invalid_client' } });
    expect(await h.tokenRequest(BV, form({ grant_type: 'client_credentials', client_id: '' }), FORM)).toMatchObject({ status: 400, body: { error: 'invalid_client' } });
  });

  it('400 for a JSON body that does not parse, 415 for other content types, 404 for other paths and methods', async () => {
    expect(await h.tokenRequest(BV, '{"client_id":', 'application/json')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await h.tokenRequest(BV, 'client_id=x', 'text/plain')).toMatchObject({ status: 415 });
    expect((await h.tokenRequest(BV, '{}', 'application/json', '/oauth/token')).status).toBe(404);
  });

  it('no client certificate, or one from another CA: the TLS handshake fails and no token is issued', async () => {
    const issued = h.emulator.snapshot().tokensIssued;
    const routeBefore = h.emulator.snapshot().requests['POST /token/'];
    const noCert = new Agent({ connect: { ca: h.ca } });
    const strangerPki = await makePki([BV], 'stranger');
    const stranger = new Agent({
      connect: { ca: h.ca, cert: await readFile(strangerPki.clients[BV]!.cert), key: await readFile(strangerPki.clients[BV]!.key) },
    });
    try {
      const body = json({ client_id: 'ss-062c5edb', grant_type: 'client_credentials' });
      for (const agent of [noCert, stranger]) {
        // TLS 1.3 sends the alert after the client's Finished: undici sees the server close the socket.
        const err = await transportError(h.tokenRequest(agent, body));
        expect(err.code ?? err.message).toMatch(/^(UND_ERR_SOCKET|ECONNRESET|EPIPE|ERR_SSL_)/);
      }
    } finally {
      await Promise.all([noCert.close(), stranger.close()]);
    }
    expect(h.emulator.snapshot().tokensIssued).toBe(issued);
    // Refused in the handshake: no HTTP request reached the token route.
    expect(h.emulator.snapshot().requests['POST /token/']).toEqual(routeBefore);
  });
});

describe('token endpoint with a clients map (client_id → organisation)', () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki, { clients: new Map([['ss-062c5edb', BV], ['ss-c160a6f5', CAIXA]]) });
  });
  afterAll(async () => h.close());

  it('issues for the certificate’s own client_id', async () => {
    expect((await h.tokenRequest(BV, JSON.stringify({ client_id: 'ss-062c5edb', grant_type: 'client_credentials' }))).status).toBe(200);
  });

  it('401 "ClientId is not valid to the orgId" for a client_id of another organisation', async () => {
    expect(await h.tokenRequest(BV, JSON.stringify({ client_id: 'ss-c160a6f5', grant_type: 'client_credentials' }))).toEqual({
      status: 401,
      headers: expect.any(Object),
      body: { message: 'ClientId is not valid to the orgId' },
    });
  });

  it('400 invalid_client for a client_id the map does not know', async () => {
    expect(await h.tokenRequest(BANRISUL, JSON.stringify({ client_id: 'ss-2a01e202', grant_type: 'client_credentials' }))).toMatchObject({
      status: 400,
      body: { error: 'invalid_client' },
    });
  });
});
