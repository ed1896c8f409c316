import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import { parseFaultConfig } from '../../src/emulator/faults.js';
import { generatePki, type PkiFiles } from '../../src/pki/certs.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { eventually, getJson, postJson } from '../helpers/http.js';
import { CLIENT_ORG, tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { sidecarEnv, startInProcessEmulator, startSidecarProcess } from '../helpers/stack.js';
import { adminSection } from '../helpers/admin.js';

const clientReports = (n: number): Record<string, unknown>[] => Array.from({ length: n }, (_, i) => validReport(i * 2));

describe('token: obtained over mTLS, reused, refreshed once on 401', () => {
  let dir: string;
  let pki: PkiFiles;
  let emulator: PcmEmulator;

  beforeAll(async () => {
    dir = await tempDir('token');
    pki = await testPki(dir);
    emulator = await startInProcessEmulator(pki);
  });
  afterAll(async () => emulator.stop());

  async function sidecarWith(sender: object, token: object = {}): Promise<RunningSidecar> {
    const config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: join(dir, `spool-${Math.random().toString(36).slice(2)}.db`) },
      pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile: pki.caCert },
      organisations: [{ orgId: CLIENT_ORG, clientId: 'client-ss', certFile: pki.clients[CLIENT_ORG]!.cert, keyFile: pki.clients[CLIENT_ORG]!.key }],
      sender: { maxBatchDelayMs: 10, retryInitialDelayMs: 20, retryMaxDelayMs: 200, ...sender },
      rate: { fleetSize: 1 },
      token,
    });
    return startSidecar(config, createLogger('silent'));
  }

  async function deliver(sidecar: RunningSidecar, reports: Record<string, unknown>[]): Promise<void> {
    const target = sidecar.spool.counts().accepted + reports.length;
    for (let i = 0; i < reports.length; i += 10) {
      const answer = await postJson(`${sidecar.ingestUrl}/v1/reports`, reports.slice(i, i + 10));
      expect(answer.status).toBe(202);
    }
    await eventually(async () => (sidecar.spool.counts().accepted === target ? true : undefined), 30_000, 20);
  }

  it('uses one token for many batches', async () => {
    const before = emulator.snapshot();
    const sidecar = await sidecarWith({ maxBatchSize: 5 });
    try {
      await deliver(sidecar, clientReports(200));
      const after = emulator.snapshot();
      const batches = (after.requests['POST /report-api/v1/private/report']?.['200'] ?? 0) - (before.requests['POST /report-api/v1/private/report']?.['200'] ?? 0);
      expect(batches).toBeGreaterThanOrEqual(40);
      expect(after.tokensIssued - before.tokensIssued).toBe(1);
      expect(sidecar.sender.status()[0]!.tokensFetched).toBe(1);
    } finally {
      await sidecar.stop();
    }
  });

  it('refreshes exactly once when the report API answers 401, and retries the batch', async () => {
    const sidecar = await sidecarWith({ maxBatchSize: 5, maxConcurrentBatches: 2 });
    try {
      await deliver(sidecar, clientReports(20));
      const before = emulator.snapshot();
      // Revoke through the HTTPS admin route, as a test client trusting the test CA would.
      const revoke = await fetchTls(`${emulator.url}/emulator/tokens/revoke`);
      expect(revoke).toBe(200);
      await deliver(sidecar, clientReports(60));
      const after = emulator.snapshot();
      expect(after.tokensIssued - before.tokensIssued).toBe(1);
      const unauthorized = (after.requests['POST /report-api/v1/private/report']?.['401'] ?? 0) - (before.requests['POST /report-api/v1/private/report']?.['401'] ?? 0);
      expect(unauthorized).toBeGreaterThanOrEqual(1);
      expect(unauthorized).toBeLessThanOrEqual(2);
      expect(sidecar.spool.counts()).toMatchObject({ pending: 0, inflight: 0, discarded: 0 });
    } finally {
      await sidecar.stop();
    }

    async function fetchTls(url: string): Promise<number> {
      const { postTls } = await import('../helpers/http.js');
      return (await postTls(url, {}, await readFile(pki.caCert))).status;
    }
  });

  it('a token host that fails (503) is an error, not a refusal: counted, retried, and the lane stays ready', async () => {
    const sidecar = await sidecarWith({ maxBatchSize: 5 });
    try {
      emulator.faults.configure(parseFaultConfig({ token: { errorRate: 1, status: 503 } }, 'test'));
      expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, clientReports(3))).status).toBe(202);
      const lane = await eventually(async () => {
        const status = sidecar.sender.status().find((l) => l.stream === 'private')!;
        return status.tokenRefreshes.error >= 2 ? status : undefined;
      }, 30_000, 20);
      expect(lane).toMatchObject({ ready: true, code: null, tokenRefreshes: { ok: 0, refused: 0 }, tokenExpiresInSeconds: null });
      emulator.faults.configure(parseFaultConfig({}, 'test'));
      await eventually(async () => (sidecar.spool.counts().accepted === 3 ? true : undefined), 30_000, 20);
      const after = sidecar.sender.status().find((l) => l.stream === 'private')!;
      expect(after.tokenRefreshes.ok).toBe(1);
      expect(after.tokenExpiresInSeconds).toBeGreaterThan(0);
    } finally {
      emulator.faults.configure(parseFaultConfig({}, 'test'));
      await sidecar.stop();
    }
  });

  it('can ask for the token with a form-encoded body (v3.1.0 spec)', async () => {
    const before = emulator.snapshot();
    const sidecar = await sidecarWith({}, { requestFormat: 'form' });
    try {
      await deliver(sidecar, clientReports(3));
      // The emulator answers /token/ with the organisation's cached token (release 2025D), so count requests.
      const after = emulator.snapshot();
      expect((after.requests['POST /token/']?.['200'] ?? 0) - (before.requests['POST /token/']?.['200'] ?? 0)).toBe(1);
      expect(sidecar.sender.status()[0]!.tokensFetched).toBe(1);
    } finally {
      await sidecar.stop();
    }
  });

  it('a missing certificate is a clear error at start; reports are still spooled and leave once it appears', async () => {
    const missingCert = join(dir, 'arrives-later.pem');
    const env = sidecarEnv(pki, emulator, join(dir, 'late-cert.db'), { PCM_CERT_FILE: missingCert, PCM_CREDENTIAL_RETRY_MS: '200' });
    const sidecar = await startSidecarProcess(env);
    try {
      const error = await sidecar.proc.waitFor((l) => l.includes('PCM_CERT_FILE') && l.includes('file does not exist'));
      expect(error).toContain(missingCert);
      const ready = await getJson<{ ready: boolean }>(`${sidecar.adminUrl}/readyz`);
      expect(ready.status).toBe(503);

      const reports = clientReports(5);
      expect((await postJson(`${sidecar.url}/v1/reports`, reports)).status).toBe(202);
      const before = emulator.snapshot().reports.ACCEPTED ?? 0;
      await copyFile(pki.clients[CLIENT_ORG]!.cert, missingCert);
      await eventually(async () => ((emulator.snapshot().reports.ACCEPTED ?? 0) - before === 5 ? true : undefined), 30_000);
      expect((await getJson(`${sidecar.adminUrl}/readyz`)).status).toBe(200);
      expect(sidecar.proc.child.exitCode).toBeNull();
    } finally {
      expect((await stopProc(sidecar.proc)).code).toBe(0);
    }
  });

  it('a rotated certificate is picked up without a restart', async () => {
    // Start with a certificate from another CA: the token host refuses the handshake, reports wait in the spool.
    const other = await generatePki(join(dir, 'other-pki'), [{ orgId: CLIENT_ORG, clientId: 'client-ss' }]);
    const certFile = join(dir, 'rotating.pem');
    const keyFile = join(dir, 'rotating-key.pem');
    await copyFile(other.clients[CLIENT_ORG]!.cert, certFile);
    await copyFile(other.clients[CLIENT_ORG]!.key, keyFile);
    const env = sidecarEnv(pki, emulator, join(dir, 'rotating.db'), {
      PCM_CERT_FILE: certFile,
      PCM_KEY_FILE: keyFile,
      PCM_CREDENTIAL_RETRY_MS: '200',
      PCM_RETRY_MAX_DELAY_MS: '300',
    });
    const sidecar = await startSidecarProcess(env);
    try {
      const before = emulator.snapshot().reports.ACCEPTED ?? 0;
      expect((await postJson(`${sidecar.url}/v1/reports`, clientReports(4))).status).toBe(202);
      await sidecar.proc.waitFor((l) => l.includes('batch not delivered'));
      // The operator (or cert-manager) replaces the files in place.
      await copyFile(pki.clients[CLIENT_ORG]!.key, keyFile);
      await copyFile(pki.clients[CLIENT_ORG]!.cert, certFile);
      await sidecar.proc.waitFor((l) => l.includes('certificate or key files changed'));
      await eventually(async () => ((emulator.snapshot().reports.ACCEPTED ?? 0) - before === 4 ? true : undefined), 30_000);
    } finally {
      expect((await stopProc(sidecar.proc)).code).toBe(0);
    }
  });

  it('an unreadable certificate names the settings and the reason', async () => {
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a certificate');
    const env = sidecarEnv(pki, emulator, join(dir, 'garbage.db'), { PCM_CERT_FILE: garbage });
    const sidecar = await startSidecarProcess(env);
    try {
      const error = await sidecar.proc.waitFor((l) => l.includes('not a usable certificate and key pair'));
      expect(error).toContain('PCM_CERT_FILE');
      expect(error).toContain('PCM_KEY_FILE');
    } finally {
      await stopProc(sidecar.proc);
    }
  });

  it('the emulator refuses the TLS handshake of /token/ without a client certificate', async () => {
    const { postTls } = await import('../helpers/http.js');
    const attempt = postTls(`${emulator.authUrl}/token/`, { client_id: 'x', grant_type: 'client_credentials' }, await readFile(pki.caCert));
    await expect(attempt).rejects.toThrow();
  });
});

describe('the bearer token never reaches logs or the spool', () => {
  it('is absent from trace-level logs and from the database files after delivery', async () => {
    const dir = await tempDir('secret');
    const pki = await testPki(dir);
    const emulator = await startInProcessEmulator(pki);
    const spoolPath = join(dir, 'secret.db');
    const sidecar = await startSidecarProcess(sidecarEnv(pki, emulator, spoolPath, { PCM_LOG_LEVEL: 'trace' }));
    const tokens = new Set<string>();
    try {
      expect((await postJson(`${sidecar.url}/v1/reports`, clientReports(5))).status).toBe(202);
      await eventually(async () => ((emulator.snapshot().reports.ACCEPTED ?? 0) >= 5 ? true : undefined), 30_000);
      for (const token of emulator.issuedTokens()) tokens.add(token);
      // A 401 makes the sender drop the token and fetch another: the riskiest path for a leak into the logs.
      const { postTls } = await import('../helpers/http.js');
      await postTls(`${emulator.url}/emulator/tokens/revoke`, {}, await readFile(pki.caCert));
      expect((await postJson(`${sidecar.url}/v1/reports`, clientReports(5))).status).toBe(202);
      await eventually(async () => ((emulator.snapshot().reports.ACCEPTED ?? 0) >= 10 ? true : undefined), 30_000);
      for (const token of emulator.issuedTokens()) tokens.add(token);
    } finally {
      expect((await stopProc(sidecar.proc)).code).toBe(0);
      await emulator.stop();
    }
    expect(tokens.size).toBe(2);
    const logs = sidecar.proc.lines.join('\n');
    const files = await Promise.all(['', '-wal', '-shm'].map((suffix) => readFile(spoolPath + suffix).catch(() => Buffer.alloc(0))));
    for (const token of tokens) {
      expect(logs).not.toContain(token);
      for (const bytes of files) expect(bytes.includes(Buffer.from(token))).toBe(false);
    }
  });
});
