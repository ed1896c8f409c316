import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, getJson, postJson } from '../helpers/http.js';
import { CLIENT_ORG, SERVER_ORG, tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { sidecarEnv, startEmulatorProcess, startSidecarProcess, type StartedEmulator, type StartedSidecar } from '../helpers/stack.js';

/**
 * Issue #10 part 5: /readyz and the metrics see what stops a lane — a token request the PCM refuses, a 403 from the
 * report API, a stall — per organisation, with the reason, and the lane recovers by itself. Real processes: the
 * sidecar and the emulator (with a client registry, so an unknown client_id gets 400 invalid_client), mTLS with
 * certificates made here. Every wait is bounded; no assertion is about how long anything took.
 */

const CLIENT_LANE = `private:${CLIENT_ORG}`;
const SERVER_LANE = `private:${SERVER_ORG}`;
const STALL_MS = 2000;
const WAIT_MS = 30_000;

interface Entry {
  orgId: string;
  lane: string;
  ready: boolean;
  code: string | null;
  reason: string | null;
  since: string;
}
interface Readyz {
  ready: boolean;
  spool: { ready: boolean };
  organisations: Entry[];
}

describe('readiness and metrics that see real failures', () => {
  let emulator: StartedEmulator;
  let sidecar: StartedSidecar;
  let admin: Agent;
  /** Reports posted so far per organisation, the ones the emulator must end up with. */
  let clientReports = 0;
  let nextReport = 0;

  beforeAll(async () => {
    const dir = await tempDir('readiness');
    const pki = await testPki(dir);
    // The PCM knows each software statement's client_id; the sidecar's second organisation names one it does not.
    const clients = join(dir, 'clients.json');
    await writeFile(clients, JSON.stringify({ 'client-ss': CLIENT_ORG, 'server-ss': SERVER_ORG }));
    emulator = await startEmulatorProcess(pki, ['--clients', clients]);
    const config = join(dir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({
        organisations: [
          { orgId: CLIENT_ORG, clientId: 'client-ss', certFile: pki.clients[CLIENT_ORG]!.cert, keyFile: pki.clients[CLIENT_ORG]!.key },
          { orgId: SERVER_ORG, clientId: 'unregistered-ss', certFile: pki.clients[SERVER_ORG]!.cert, keyFile: pki.clients[SERVER_ORG]!.key },
        ],
      }),
    );
    const env = sidecarEnv(pki, emulator, join(dir, 'spool.db'), {
      PCM_LANE_STALL_MS: String(STALL_MS),
      PCM_CREDENTIAL_RETRY_MS: '200',
      // A 403 is retried, not split into dead letters, for as long as the test holds it.
      PCM_MAX_REFUSALS: '1000000',
      PCM_EXPORT_TIMEOUT_MS: '3000',
    });
    for (const key of ['PCM_ORG_ID', 'PCM_CLIENT_ID', 'PCM_CERT_FILE', 'PCM_KEY_FILE']) delete env[key];
    sidecar = await startSidecarProcess(env, ['--config', config]);
    admin = new Agent({ connect: { ca: await readFile(pki.caCert) } });
  });

  afterAll(async () => {
    if (sidecar) expect((await stopProc(sidecar.proc)).code).toBe(0);
    if (emulator) await stopProc(emulator.proc);
    await admin?.close();
  });

  async function control(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: object): Promise<void> {
    const res = await request(`${emulator.url}${path}`, {
      method,
      dispatcher: admin,
      headers: { 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    await res.body.text();
    expect(res.statusCode).toBe(200);
  }

  async function readyz(): Promise<{ status: number; body: Readyz; entry: (lane: string) => Entry }> {
    const { status, body } = await getJson<Readyz>(`${sidecar.adminUrl}/readyz`);
    return { status, body, entry: (lane) => body.organisations.find((o) => o.lane === lane) as Entry };
  }

  /** Waits (bounded) until the lane's /readyz entry satisfies `check`. */
  async function laneState(lane: string, check: (e: Entry) => boolean): Promise<Entry> {
    return eventually(async () => {
      const entry = (await readyz()).entry(lane);
      return check(entry) ? entry : undefined;
    }, WAIT_MS, 50);
  }

  async function atEmulator(orgId: string): Promise<number> {
    const res = await request(`${emulator.url}/emulator/reports?senderOrgId=${orgId}&_limit=1`, { dispatcher: admin });
    return ((await res.body.json()) as { meta: { totalRecords: number } }).meta.totalRecords;
  }

  async function allDelivered(): Promise<void> {
    await eventually(async () => ((await atEmulator(CLIENT_ORG)) === clientReports ? true : undefined), WAIT_MS, 50);
  }

  /** Posts `n` CLIENT reports (the client organisation's lane) and, when asked, `servers` SERVER ones. */
  async function post(n: number, servers = 0): Promise<void> {
    const items: Record<string, unknown>[] = [];
    for (let i = 0; i < n; i++) items.push(validReport(2 * nextReport++));
    for (let i = 0; i < servers; i++) items.push(validReport(2 * nextReport++ + 1));
    expect((await postJson(`${sidecar.url}/v1/reports`, items)).status).toBe(202);
    clientReports += n;
  }

  async function metrics(): Promise<(name: string, labels: Record<string, string>) => number | undefined> {
    const res = await request(`${sidecar.adminUrl}/metrics`);
    const text = await res.body.text();
    const samples = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (!m) continue;
      const labels = [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => `${k}=${v}`).sort();
      samples.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
    }
    return (name, labels) => {
      const key = Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort();
      return samples.get(`${name}{${key.join(',')}}`);
    };
  }

  it('an organisation whose client_id the PCM refuses is not ready and says why; the other organisation delivers', async () => {
    // Nothing to send yet: no token was asked for, so nothing is known to be wrong.
    expect((await readyz()).status).toBe(200);

    await post(3, 3);
    await allDelivered();
    const refused = await laneState(SERVER_LANE, (e) => e.code === 'PCM_TOKEN_REFUSED');
    expect(refused.ready).toBe(false);
    expect(refused.reason).toContain('unregistered-ss');
    expect(refused.reason).toContain('400');
    expect(refused.reason).toContain('invalid_client');
    expect(Date.parse(refused.since)).toBeLessThanOrEqual(Date.now());

    const { status, body, entry } = await readyz();
    expect(status).toBe(503);
    expect(body.ready).toBe(false);
    expect(body.spool.ready).toBe(true);
    expect(entry(CLIENT_LANE)).toMatchObject({ orgId: CLIENT_ORG, ready: true, code: null, reason: null });
    expect(await atEmulator(SERVER_ORG)).toBe(0);
    expect(sidecar.proc.lines.some((l) => l.includes(`lane ${SERVER_LANE} is not ready`) && l.includes('PCM_TOKEN_REFUSED'))).toBe(true);

    const sample = await metrics();
    expect(sample('pcm_sidecar_token_refreshes_total', { org: CLIENT_ORG, result: 'ok' })).toBe(1);
    expect(sample('pcm_sidecar_token_refreshes_total', { org: CLIENT_ORG, result: 'refused' })).toBe(0);
    expect(sample('pcm_sidecar_token_refreshes_total', { org: SERVER_ORG, result: 'refused' })).toBeGreaterThanOrEqual(1);
    expect(sample('pcm_sidecar_token_refreshes_total', { org: SERVER_ORG, result: 'ok' })).toBe(0);
    const expiry = sample('pcm_sidecar_token_expiry_seconds', { org: CLIENT_ORG });
    expect(expiry).toBeGreaterThan(0);
    expect(expiry).toBeLessThanOrEqual(21_600); // the emulator's token lifetime
    expect(sample('pcm_sidecar_token_expiry_seconds', { org: SERVER_ORG })).toBeUndefined();
    expect(sample('pcm_sidecar_spool_oldest_pending_age_seconds', { org: CLIENT_ORG, stream: 'private' })).toBe(0);
    expect(sample('pcm_sidecar_spool_oldest_pending_age_seconds', { org: SERVER_ORG, stream: 'private' })).toBeGreaterThan(0);
    expect(sample('pcm_sidecar_sender_ready', { org: CLIENT_ORG, stream: 'private' })).toBe(1);
    expect(sample('pcm_sidecar_sender_ready', { org: SERVER_ORG, stream: 'private' })).toBe(0);
  });

  it('a 403 from the report API makes the lane not ready with the reason; it is ready again once a batch is answered', async () => {
    await control('POST', '/emulator/faults', { status: 403, count: 100_000 });
    await post(2);
    const forbidden = await laneState(CLIENT_LANE, (e) => e.code === 'PCM_REPORT_FORBIDDEN');
    expect(forbidden.ready).toBe(false);
    expect(forbidden.reason).toContain('403');

    await control('DELETE', '/emulator/faults');
    await allDelivered();
    const ready = await laneState(CLIENT_LANE, (e) => e.ready);
    expect(ready.code).toBeNull();
    expect(Date.parse(ready.since)).toBeGreaterThanOrEqual(Date.parse(forbidden.since));
  });

  it(`reports waiting with no answer for PCM_LANE_STALL_MS make the lane not ready; it recovers once they are answered`, async () => {
    await control('PUT', '/emulator/faults', { hangRate: 1 });
    await post(2);
    const stalled = await laneState(CLIENT_LANE, (e) => e.code === 'PCM_LANE_STALLED');
    expect(stalled.ready).toBe(false);
    expect(stalled.reason).toContain('none was answered by the PCM');
    // Stalled means the oldest report has waited at least the stall time; it is still waiting.
    expect((await metrics())('pcm_sidecar_spool_oldest_pending_age_seconds', { org: CLIENT_ORG, stream: 'private' })).toBeGreaterThanOrEqual(STALL_MS / 1000);

    await control('DELETE', '/emulator/faults');
    await allDelivered();
    expect((await laneState(CLIENT_LANE, (e) => e.ready)).code).toBeNull();
    expect((await metrics())('pcm_sidecar_spool_oldest_pending_age_seconds', { org: CLIENT_ORG, stream: 'private' })).toBe(0);
  });

  it('a token request refused for a lane that had a token: not ready, then ready again with the next token', async () => {
    await control('PUT', '/emulator/faults', { token: { errorRate: 1, status: 401 } });
    // The report API now refuses the token in use, so the lane has to ask for another.
    await control('POST', '/emulator/tokens/revoke');
    await post(2);
    const refused = await laneState(CLIENT_LANE, (e) => e.code === 'PCM_TOKEN_REFUSED');
    expect(refused.reason).toContain('401');
    expect((await metrics())('pcm_sidecar_token_refreshes_total', { org: CLIENT_ORG, result: 'refused' })).toBeGreaterThanOrEqual(1);

    await control('DELETE', '/emulator/faults');
    await allDelivered();
    expect((await laneState(CLIENT_LANE, (e) => e.ready)).code).toBeNull();
    const sample = await metrics();
    expect(sample('pcm_sidecar_token_refreshes_total', { org: CLIENT_ORG, result: 'ok' })).toBe(2);
    expect(sample('pcm_sidecar_token_expiry_seconds', { org: CLIENT_ORG })).toBeGreaterThan(0);
    // The organisation the PCM does not know is still refused, and still holds its reports.
    expect((await readyz()).entry(SERVER_LANE).code).toBe('PCM_TOKEN_REFUSED');
    expect(await atEmulator(SERVER_ORG)).toBe(0);
  });
});
