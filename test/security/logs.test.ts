import { createPrivateKey, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { eventually, postJson } from '../helpers/http.js';
import { CLIENT_ORG, tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { clientInteraction, validReport } from '../helpers/reports.js';
import { sidecarEnv, startInProcessEmulator, startSidecarProcess } from '../helpers/stack.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

type Line = Record<string, unknown> & { msg?: string; level?: number };

function parsed(lines: readonly string[]): Line[] {
  return lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Line];
    } catch {
      return [];
    }
  });
}

/**
 * Logs (issue #11, item 8): at `trace` the lines add what an operator needs to follow a request, a batch and a
 * token, and no secret the run used reaches a line — not the key's passphrase, the PCM's tokens, the gateway's
 * bearer tokens, the ingest token, the webhook's OAuth2 client secret or its token, nor the tokenId pepper.
 */
/** A trace-level logger writing into `out`. */
function traceLogger(): { out: string[]; log: ReturnType<typeof createLogger> } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.push(chunk.toString());
      done();
    },
  });
  return { out, log: createLogger('trace', 'test', sink) };
}

describe('logs: detail at debug and trace, secrets never', () => {
  it('the logger censors secret fields at any depth it reaches and bearer tokens inside text', () => {
    const { out, log } = traceLogger();
    const context = { err: 'report API answered 401: Bearer abc.def.ghi' };
    log.info(
      { accessToken: 's1', keyPassphrase: 's2', req: { headers: { authorization: 'Bearer s3', 'x-api-key': 's4' } }, org: { clientSecret: 's5', pepper: 's6' } },
      'sent with Bearer s7tokenvalue',
    );
    log.warn(context, 'again');
    log.info('the bearer token is not one this ingest accepts');
    const text = out.join('');
    for (const secret of ['s1', 's2', 's3', 's4', 's5', 's6', 's7tokenvalue', 'abc.def.ghi']) expect(text).not.toContain(`${secret}`);
    expect(text.match(/\[redacted\]/g)?.length).toBeGreaterThanOrEqual(8);
    // Prose about a bearer token is not a token.
    expect(text).toContain('the bearer token is not one this ingest accepts');
    // The caller's object is left as it was: it may be logged again, or used.
    expect(context.err).toBe('report API answered 401: Bearer abc.def.ghi');
  });

  it('errors (message, stack, cause), Basic credentials, other spellings of secret fields, short tokens', () => {
    const { out, log } = traceLogger();
    const cause = new Error('upstream said Bearer e1causetoken');
    log.error({ err: new Error('POST failed with Bearer e2errtoken', { cause }) }, 'delivery failed');
    log.error(new Error('token endpoint: Authorization: Basic ZTM6YmFzaWNzZWNyZXQ='));
    log.warn({ headers: { 'Proxy-Authorization': 'e4', 'X-Api-Key': 'e5', 'Set-Cookie': 'e6' }, ACCESS_TOKEN: 'e7', Token: 'e8' }, 'odd spellings');
    log.info('short token: Bearer abcdefghijklmnopq');
    // Causes that loop are logged (not a stack overflow); an error's own fields are scrubbed at depth.
    const a = new Error('first');
    const b = new Error('second', { cause: a });
    (a as Error & { cause?: unknown }).cause = b;
    log.error({ err: a }, 'looping causes');
    log.error({ err: Object.assign(new Error('upstream'), { body: 'echo: Authorization: Bearer e9bodytoken', response: { headers: { authorization: 'e10deep' } } }) }, 'with fields');
    log.warn('lower case: basic ZTExOmxvd2VyY2FzZQ==');
    log.info('basic validation passed; Bearer token required');
    const text = out.join('');
    for (const secret of ['e1causetoken', 'e2errtoken', 'ZTM6YmFzaWNzZWNyZXQ=', '"e4"', '"e5"', '"e6"', '"e7"', '"e8"', 'abcdefghijklmnopq', 'e9bodytoken', 'e10deep', 'ZTExOmxvd2VyY2FzZQ==']) {
      expect(text, secret).not.toContain(secret);
    }
    // Still useful: the error's words, the prose.
    expect(text).toContain('POST failed with Bearer [redacted]');
    expect(text).toContain('basic validation passed; Bearer token required');
    expect(text).toContain('looping causes');
  });

  it('a real run at trace: refused items at debug, requests, batches and tokens at trace, no secret anywhere', async () => {
    const dir = await tempDir('logs');
    const pki = await testPki(dir);
    const passphrase = `pass-${randomUUID()}`;
    const pepper = `pepper-${randomUUID().slice(0, 20)}`;
    const callToken = `eyJhbGciOiJQUzI1NiJ9.${Buffer.from(randomUUID()).toString('base64url')}.c2lnbmF0dXJl`;
    const ingestToken = `ingest-${randomUUID()}`;
    const clientSecret = `hook-secret-${randomUUID()}`;
    const hookToken = `hook-token-${randomUUID()}`;
    const plainKey = await readFile(pki.clients[CLIENT_ORG]!.key, 'utf8');
    const encryptedKey = createPrivateKey(plainKey).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }) as string;
    const files = { key: join(dir, 'key.pem'), pepper: join(dir, 'pepper'), ingestTokens: join(dir, 'ingest-tokens'), secret: join(dir, 'hook-secret') };
    await writeFile(files.key, encryptedKey);
    await writeFile(files.pepper, pepper);
    await writeFile(files.ingestTokens, `${ingestToken}\n`);
    await writeFile(files.secret, `${clientSecret}\n`);

    // The webhook receiver's OAuth2 token endpoint: client_credentials with the secret in Basic auth.
    const basic = `Basic ${Buffer.from(`hook-client:${clientSecret}`).toString('base64')}`;
    const tokenServer = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const ok = req.headers.authorization === basic;
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ok ? { access_token: hookToken, token_type: 'Bearer', expires_in: 300 } : { error: 'invalid_client' }));
      });
    });
    await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
    const tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/oauth/token`;
    const hook = await WebhookReceiver.start();
    hook.answer = (_body, headers) => (headers.authorization === `Bearer ${hookToken}` ? 201 : 401);

    const emulator = await startInProcessEmulator(pki);
    const sidecar = await startSidecarProcess(
      sidecarEnv(pki, emulator, join(dir, 'spool.db'), {
        PCM_LOG_LEVEL: 'trace',
        PCM_KEY_FILE: files.key,
        PCM_KEY_PASSPHRASE: passphrase,
        PCM_TOKEN_ID_PEPPER_FILE: files.pepper,
        PCM_CLIENT_SS_ID: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
        PCM_INGEST_TOKEN_FILE: files.ingestTokens,
        PCM_ALERTS_URL: hook.url,
        PCM_ALERTS_EVENTS: 'QUALITY.FINDINGS',
        PCM_ALERTS_AGGREGATE_MS: '0',
        PCM_ALERTS_OAUTH_TOKEN_URL: tokenUrl,
        PCM_ALERTS_OAUTH_CLIENT_ID: 'hook-client',
        PCM_ALERTS_OAUTH_CLIENT_SECRET_FILE: files.secret,
      }),
    );
    const auth = { authorization: `Bearer ${ingestToken}` };
    const interaction = (over: Record<string, unknown> = {}) => clientInteraction({ accessToken: `Bearer ${callToken}`, ...over });
    const accepted = (n: number) => eventually(async () => ((emulator.snapshot().reports.ACCEPTED ?? 0) >= n ? true : undefined), 30_000);
    let exit: { code: number | null } | null = null;
    try {
      expect((await postJson(`${sidecar.url}/v1/interactions`, [interaction(), interaction()], auth)).status).toBe(202);
      await accepted(2);
      // A second batch reuses the token; a CLIENT report without tokenId is sent with a finding: QUALITY.FINDINGS.
      const { additionalInfo, ...noTokenId } = validReport(0);
      expect((await postJson(`${sidecar.url}/v1/reports`, [{ ...noTokenId, additionalInfo: { consentId: (additionalInfo as { consentId: string }).consentId } }], auth)).status).toBe(202);
      await accepted(3);
      await eventually(async () => (hook.accepted.length > 0 ? true : undefined), 30_000);
      // Refused: an endpoint the catalogue does not know, posted with the call's token beside it.
      const refused = await postJson<{ results: { errors: { field: string; rule: string }[] }[] }>(
        `${sidecar.url}/v1/interactions`,
        [interaction({ url: 'https://api.banco.com.br/open-banking/none/v1/x' })],
        auth,
      );
      expect(refused.status).toBe(207);
      // Without the ingest token: refused before the body is read.
      expect((await postJson(`${sidecar.url}/v1/reports`, [validReport(2)], { authorization: 'Bearer not-the-token-at-all' })).status).toBe(401);
      await eventually(async () => (sidecar.proc.lines.some((l) => l.includes('ingest: item refused')) ? true : undefined), 10_000);
    } finally {
      exit = await stopProc(sidecar.proc);
      await emulator.stop();
      await hook.close();
      tokenServer.close();
    }
    expect(exit?.code).toBe(0);

    const lines = parsed(sidecar.proc.lines);
    const find = (msg: string): Line[] => lines.filter((l) => l.msg === msg);
    // debug: each refused item with the route and what refused it, as the 207 answer says it.
    const refusedItem = find('ingest: item refused');
    expect(refusedItem).toHaveLength(1);
    expect(refusedItem[0]).toMatchObject({ level: 20, route: '/v1/interactions', index: 0, errors: [expect.objectContaining({ field: expect.any(String), rule: expect.any(String) })] });
    // trace: every ingest request with its size, items and time; every attempt of a batch; the token, fetched then reused.
    expect(find('ingest: request answered')).toEqual(
      expect.arrayContaining([expect.objectContaining({ level: 10, route: '/v1/interactions', bytes: expect.any(Number), items: 2, accepted: 2, status: 202, ms: expect.any(Number) })]),
    );
    const sending = find('batch: sending');
    expect(sending.length).toBeGreaterThanOrEqual(2);
    for (const s of sending) expect(s).toMatchObject({ level: 10, lane: expect.any(String), attempt: 1, bytes: expect.any(Number), firstId: expect.any(Number), lastId: expect.any(Number) });
    expect(find('token: fetched')[0]).toMatchObject({ level: 20, path: '/token/', expiresInMs: expect.any(Number) });
    expect(find('token: reused').length).toBeGreaterThan(0);
    // info: one line per batch answered, with its HTTP status.
    for (const b of find('batch answered')) expect(b).toMatchObject({ level: 30, lane: expect.any(String), reports: expect.any(Number), status: 200, ms: expect.any(Number) });
    expect(find('batch answered').reduce((n, b) => n + (b.accepted as number), 0)).toBe(3);

    const pcmTokens = emulator.issuedTokens();
    expect(pcmTokens.length).toBeGreaterThan(0);
    const keyBody = (pem: string): string[] => pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'));
    const secrets = { passphrase, pepper, callToken, ingestToken, clientSecret, hookToken, basic: basic.slice('Basic '.length), ...Object.fromEntries(pcmTokens.map((t, i) => [`pcm token ${i}`, t])) };
    const everything = sidecar.proc.lines.join('\n');
    expect(everything.length).toBeGreaterThan(2000);
    for (const [name, secret] of Object.entries(secrets)) expect(everything.includes(secret), `the logs hold the ${name}`).toBe(false);
    for (const line of [...keyBody(plainKey), ...keyBody(encryptedKey)]) expect(everything.includes(line), 'the logs hold key material').toBe(false);
  }, 120_000);
});
