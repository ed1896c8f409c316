import { createPrivateKey, randomUUID } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { CLIENT_ORG, SERVER_ORG, tempDir, testPki } from '../helpers/pki.js';
import { eventually, postJson } from '../helpers/http.js';
import { stopProc } from '../helpers/processes.js';
import { clientInteraction, validReport } from '../helpers/reports.js';
import { sidecarEnv, startInProcessEmulator, startSidecarProcess } from '../helpers/stack.js';

/**
 * Issue #8, security: after a run that used every secret — the PCM's bearer tokens (two: a revoke forces a refresh),
 * an encrypted private key and its passphrase, the tokenId pepper, the access tokens of the calls reported — none of
 * them is in the logs (trace level), the spool files (database, WAL), the quarantine, the metrics or the answers.
 */

describe('no secret leaves the process', () => {
  it('scans logs, spool, quarantine, metrics and answers for every secret used', async () => {
    const dir = await tempDir('secrets');
    const pki = await testPki(dir);
    const passphrase = `pass-${randomUUID()}`;
    const pepper = `pepper-${randomUUID().slice(0, 20)}`;
    const callToken = `eyJhbGciOiJQUzI1NiJ9.${Buffer.from(randomUUID()).toString('base64url')}.c2lnbmF0dXJl`;
    const plainKey = await readFile(pki.clients[CLIENT_ORG]!.key, 'utf8');
    const encryptedKey = createPrivateKey(plainKey).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }) as string;
    const keyFile = join(dir, 'encrypted-key.pem');
    await writeFile(keyFile, encryptedKey);
    const pepperFile = join(dir, 'pepper');
    await writeFile(pepperFile, pepper);
    const spoolPath = join(dir, 'spool.db');

    const emulator = await startInProcessEmulator(pki);
    const sidecar = await startSidecarProcess(
      sidecarEnv(pki, emulator, spoolPath, {
        PCM_LOG_LEVEL: 'trace',
        PCM_KEY_FILE: keyFile,
        PCM_KEY_PASSPHRASE: passphrase,
        PCM_TOKEN_ID_PEPPER_FILE: pepperFile,
        PCM_CLIENT_SS_ID: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      }),
    );
    const answers: string[] = [];
    const post = async (path: string, body: unknown): Promise<number> => {
      const answer = await postJson(`${sidecar.url}${path}`, body);
      answers.push(JSON.stringify(answer.body));
      return answer.status;
    };
    const interaction = (over: Record<string, unknown> = {}) => clientInteraction({ accessToken: `Bearer ${callToken}`, ...over });
    const tokens = new Set<string>();
    let metrics = '';
    try {
      expect(await post('/v1/interactions', [interaction(), interaction()])).toBe(202);
      await eventually(async () => ((emulator.snapshot().reports.ACCEPTED ?? 0) >= 2 ? true : undefined), 30_000);
      for (const token of emulator.issuedTokens()) tokens.add(token);
      const { postTls } = await import('../helpers/http.js');
      await postTls(`${emulator.url}/emulator/tokens/revoke`, {}, await readFile(pki.caCert));
      expect(await post('/v1/reports', [validReport(0), validReport(2)])).toBe(202);
      await eventually(async () => ((emulator.snapshot().reports.ACCEPTED ?? 0) >= 4 ? true : undefined), 30_000);
      for (const token of emulator.issuedTokens()) tokens.add(token);
      // Refused, so quarantined with what came in: an interaction with the token, a Kong record with the header,
      // a body that is not JSON at all.
      expect(await post('/v1/interactions', [interaction({ url: 'https://api.banco.com.br/open-banking/none/v1/x' })])).toBe(207);
      const kong = { request: { method: 'GET', uri: '/open-banking/none', headers: { authorization: `Bearer ${callToken}` } }, response: { status: 200 } };
      expect(await post('/v1/gateways/kong?role=CLIENT', [kong])).toBe(207);
      expect(await post('/v1/interactions', `{"accessToken": "${callToken}", "authorization": "Bearer ${callToken}"`)).toBe(400);
      metrics = await (await request(`${sidecar.adminUrl}/metrics`)).body.text();
    } finally {
      expect((await stopProc(sidecar.proc)).code).toBe(0);
      await emulator.stop();
    }
    expect(tokens.size).toBe(2);

    const keyBody = (pem: string): string[] => pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'));
    const secrets = [...tokens, passphrase, pepper, callToken, ...keyBody(plainKey), ...keyBody(encryptedKey)];
    const spoolFiles = (await readdir(dir)).filter((f) => f.startsWith('spool.db'));
    expect(spoolFiles).toContain('spool.db');
    const places: [string, Buffer][] = [
      ['logs', Buffer.from(sidecar.proc.lines.join('\n'))],
      ['metrics', Buffer.from(metrics)],
      ['answers', Buffer.from(answers.join('\n'))],
      ...(await Promise.all(spoolFiles.map(async (f): Promise<[string, Buffer]> => [f, await readFile(join(dir, f))]))),
    ];
    // The scan sees what it should: the logs are trace level, and the quarantine holds the refused items.
    expect(places[0]![1].length).toBeGreaterThan(1000);
    expect(places.some(([, bytes]) => bytes.includes(Buffer.from('[redacted]')))).toBe(true);
    for (const [where, bytes] of places) {
      for (const secret of secrets) expect(bytes.includes(Buffer.from(secret)), `${where} holds a secret (${secret.slice(0, 6)}…)`).toBe(false);
    }
  }, 90_000);
});
