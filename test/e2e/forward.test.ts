import Database from 'better-sqlite3';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorStats, StoredReport } from '../../src/emulator/emulator.js';
import { DEFAULT_ENDPOINTS_FILE } from '../../src/emulator/validate.js';
import { generatePki, type PkiFiles } from '../../src/pki/certs.js';
import { eventually, getJson, postJson, type HttpAnswer } from '../helpers/http.js';
import { CLIENT_ORG, SERVER_ORG, tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { fixedOpendata, validReport } from '../helpers/reports.js';
import { bothOrganisations, sidecarEnv, startEmulatorProcess, startSidecarProcess, type StartedEmulator, type StartedSidecar } from '../helpers/stack.js';
import { adminEnv, adminJson } from '../helpers/admin.js';

/**
 * Agent → aggregator → PCM (README, "Topologies"), as three real processes on 127.0.0.1: an agent holding no
 * organisation certificate and no PCM URL forwards over mTLS with a bearer token to an aggregator, which holds both
 * organisations' certificates and delivers to the emulator. The two hops use different CAs: the institution's own
 * for agent ↔ aggregator, the Open Finance one (the test PKI) for the PCM.
 */

const CHAIN = 2_000;
const OPENDATA = 20;
const ARRAY_SIZE = 50;
const SINGLES = 10;
const CONCURRENCY = 8;
const DURING_OUTAGE = 300;
const AFTER_OUTAGE = 100;
const HELD = 50;
const TOKEN = 'agent-token-7f3c2a9d4b1e6f08a5c3';
/** An endpoint the agent's catalogue lists and the aggregator's does not: the way the aggregator refuses an item. */
const NOT_AT_AGGREGATOR = '/open-banking/accounts/v2/accounts/{accountId}/overdraft-limits';

interface Status {
  spool: { pending: number; inflight: number; accepted: number; discarded: number; quarantined: number };
  organisations: { lane: string; lastError: string | null; credentialError: string | null; reportsAccepted: number }[];
}
interface Readiness {
  ready: boolean;
  organisations: { lane: string; ready: boolean; code: string | null; reason: string | null }[];
}

// Each test may wait for a whole delivery (bounded below by eventually); the file's own limit is above the sum.
describe('end to end: agent (no certificates) → aggregator → emulator', { timeout: 240_000 }, () => {
  let dir: string;
  let pki: PkiFiles;
  let internal: PkiFiles;
  let ca: Buffer;
  let internalCa: Buffer;
  let agentIdentity: { cert: Buffer; key: Buffer };
  let emulator: StartedEmulator;
  let aggregator: StartedSidecar;
  let agent: StartedSidecar;
  let aggregatorEnv: Record<string, string>;
  let aggregatorArgs: string[];
  let agentEnv: Record<string, string>;
  let agentConfig: { organisations: { orgId: string }[]; opendataOrgId: string };
  let agentToken: string;
  let agentSpool: string;
  let aggregatorSpool: string;
  /** Every fapiInteractionId posted to the agent that must reach the emulator, with the organisation that must send it. */
  const expected = new Map<string, string>();
  let opendataSent = 0;

  beforeAll(async () => {
    dir = await tempDir('forward');
    pki = await testPki(dir);
    // The institution's own CA, for the hop inside the cluster: the aggregator's server certificate and the agent's client one.
    internal = await generatePki(join(dir, 'internal'), [{ orgId: 'agent', clientId: 'pcm-agent' }]);
    ca = await readFile(pki.caCert);
    internalCa = await readFile(internal.caCert);
    emulator = await startEmulatorProcess(pki);

    const catalog = JSON.parse(await readFile(DEFAULT_ENDPOINTS_FILE, 'utf8')) as { private: { template: string }[] };
    const aggregatorCatalog = join(dir, 'aggregator-endpoints.json');
    await writeFile(aggregatorCatalog, JSON.stringify({ ...catalog, private: catalog.private.filter((e) => e.template !== NOT_AT_AGGREGATOR) }));
    const ingestToken = join(dir, 'ingest-token');
    await writeFile(ingestToken, `${TOKEN}\n`, { mode: 0o600 });
    const aggregatorConfig = join(dir, 'aggregator.json');
    // The aggregator's own opendata organisation is the client one: the agent's opendata reports (the server
    // organisation's) must still go out under the server organisation's token.
    await writeFile(aggregatorConfig, JSON.stringify({ ...bothOrganisations(pki), opendataOrgId: CLIENT_ORG }));
    aggregatorSpool = join(dir, 'aggregator.db');
    aggregatorEnv = sidecarEnv(pki, emulator, aggregatorSpool, {
      PCM_INGEST_TOKEN_FILE: ingestToken,
      PCM_INGEST_TLS_CERT_FILE: internal.serverCert,
      PCM_INGEST_TLS_KEY_FILE: internal.serverKey,
      PCM_INGEST_CLIENT_CA_FILE: internal.caCert,
      PCM_ENDPOINT_CATALOG: aggregatorCatalog,
    });
    for (const key of ['PCM_ORG_ID', 'PCM_CLIENT_ID', 'PCM_CERT_FILE', 'PCM_KEY_FILE']) delete aggregatorEnv[key];
    aggregatorArgs = ['--config', aggregatorConfig];
    aggregator = await startSidecarProcess(aggregatorEnv, aggregatorArgs);
    agentIdentity = { cert: await readFile(internal.clients.agent!.cert), key: await readFile(internal.clients.agent!.key) };

    agentToken = join(dir, 'forward-token');
    await writeFile(agentToken, `${TOKEN}\n`, { mode: 0o600 });
    agentConfig = { organisations: [{ orgId: CLIENT_ORG }, { orgId: SERVER_ORG }], opendataOrgId: SERVER_ORG };
    const agentConfigFile = join(dir, 'agent.json');
    await writeFile(agentConfigFile, JSON.stringify(agentConfig));
    agentSpool = join(dir, 'agent.db');
    agentEnv = {
      PCM_FORWARD_URL: aggregator.url,
      PCM_FORWARD_TOKEN_FILE: agentToken,
      PCM_FORWARD_CERT_FILE: internal.clients.agent!.cert,
      PCM_FORWARD_KEY_FILE: internal.clients.agent!.key,
      PCM_FORWARD_CA_FILE: internal.caCert,
      PCM_SPOOL_PATH: agentSpool,
      PCM_INGEST_PORT: '0',
      ...adminEnv(dir),
      PCM_MAX_BATCH_DELAY_MS: '100',
      PCM_RETRY_INITIAL_DELAY_MS: '50',
      PCM_RETRY_MAX_DELAY_MS: '500',
      // The token file is checked for changes at this pace.
      PCM_CREDENTIAL_RETRY_MS: '200',
    };
    agent = await startSidecarProcess(agentEnv, ['--config', agentConfigFile]);
  });

  afterAll(async () => {
    for (const started of [agent, aggregator]) if (started) await stopProc(started.proc, 'SIGKILL');
    if (emulator) await stopProc(emulator.proc);
  });

  const stats = async (): Promise<EmulatorStats> => (await getJson<EmulatorStats>(`${emulator.url}/emulator/stats`, ca)).body;
  const agentStatus = async (): Promise<Status> => (await adminJson<Status>(`${agent.adminUrl}/v1/status`)).body;
  const agentReady = async (): Promise<HttpAnswer<Readiness>> => getJson<Readiness>(`${agent.adminUrl}/readyz`);

  /** Posts reports to the agent as singles and arrays; each must be acknowledged (202) by the agent alone. */
  async function postToAgent(reports: Record<string, unknown>[]): Promise<void> {
    const bodies: unknown[] = reports.slice(0, SINGLES);
    for (let i = SINGLES; i < reports.length; i += ARRAY_SIZE) bodies.push(reports.slice(i, i + ARRAY_SIZE));
    let next = 0;
    let acknowledged = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++];
          const answer = await postJson<{ accepted: number; duplicates: number }>(`${agent.url}/v1/reports`, body);
          expect(answer.status).toBe(202);
          acknowledged += answer.body.accepted;
        }
      }),
    );
    expect(acknowledged).toBe(reports.length);
  }

  function privateReports(count: number, from: number): Record<string, unknown>[] {
    return Array.from({ length: count }, (_, i) => {
      const report = validReport(from + i);
      expect(expected.has(report.fapiInteractionId as string)).toBe(false);
      expected.set(report.fapiInteractionId as string, report.role === 'CLIENT' ? CLIENT_ORG : SERVER_ORG);
      return report;
    });
  }

  /** Waits until the emulator holds every expected report, then checks each arrived once, sent by its organisation. */
  async function expectAllAtEmulatorOnce(): Promise<void> {
    const total = expected.size + opendataSent;
    const done = await eventually(async () => {
      const s = await stats();
      return (s.reports.ACCEPTED ?? 0) >= total ? s : undefined;
    }, 90_000, 250);
    expect(done.reports).toEqual({ ACCEPTED: total });
    expect(done.duplicatesReceived).toBe(0);
    expect(done.distinctFapiInteractionIds).toBe(expected.size);
    const { body } = await getJson<{ data: StoredReport[] }>(`${emulator.url}/emulator/reports?stream=private&_limit=100000`, ca);
    const seen = new Map<string, string | null>();
    for (const r of body.data) {
      const fapi = (r.report as { fapiInteractionId: string }).fapiInteractionId;
      expect(seen.has(fapi)).toBe(false);
      seen.set(fapi, r.senderOrgId);
    }
    expect(seen.size).toBe(expected.size);
    for (const [fapi, org] of expected) expect(seen.get(fapi)).toBe(org);
    const opendata = await getJson<{ data: StoredReport[] }>(`${emulator.url}/emulator/reports?stream=opendata&_limit=100000`, ca);
    expect(opendata.body.data).toHaveLength(opendataSent);
    for (const r of opendata.body.data) expect(r.senderOrgId).toBe(SERVER_ORG);
  }

  it('the agent runs with no organisation certificate, no client_id and no PCM URL, and is ready', async () => {
    for (const name of ['PCM_API_URL', 'PCM_AUTH_URL', 'PCM_CA_FILE', 'PCM_CERT_FILE', 'PCM_KEY_FILE', 'PCM_CLIENT_ID']) expect(agentEnv[name]).toBeUndefined();
    for (const org of agentConfig.organisations) expect(Object.keys(org)).toEqual(['orgId']);
    const ready = await agentReady();
    expect(ready.status).toBe(200);
    expect(ready.body.organisations.map((o) => o.lane).sort()).toEqual([`opendata:${SERVER_ORG}`, `private:${CLIENT_ORG}`, `private:${SERVER_ORG}`]);
    for (const lane of (await agentStatus()).organisations) expect(lane.credentialError).toBeNull();
    expect(aggregator.url).toMatch(/^https:/);
  });

  it(`${CHAIN} reports posted to the agent reach the emulator once, ACCEPTED, each under its organisation`, async () => {
    // Distinct timestamps: the emulator tells opendata reports apart by endpoint, method, time, status and timespan.
    const base = Date.now() - 5000;
    const opendata = Array.from({ length: OPENDATA }, (_, i) =>
      fixedOpendata({ timestamp: new Date(base - i).toISOString(), additionalInfo: { clientIp: `203.0.113.${i + 1}` } }),
    );
    opendataSent += OPENDATA;
    await postToAgent([...privateReports(CHAIN, 0), ...opendata]);
    await expectAllAtEmulatorOnce();
    // Both spools end with every report delivered; the agent's rows have no PCM reportId (that is the aggregator's).
    const status = await eventually(async () => {
      const s = await agentStatus();
      return s.spool.accepted === CHAIN + OPENDATA ? s : undefined;
    }, 30_000, 100);
    expect(status.spool).toMatchObject({ pending: 0, inflight: 0, discarded: 0 });
    // The aggregator's ingest takes no connection without a client certificate its CA signs; /v1/status is on its
    // admin listener, with the admin token.
    await expect(getJson(`${aggregator.url}/healthz`, internalCa)).rejects.toThrow();
    expect((await getText(`${aggregator.url}/healthz`, internalCa, agentIdentity)).status).toBe(200);
    expect((await adminJson(`${aggregator.adminUrl}/v1/status`, { token: null })).status).toBe(401);
    expect((await adminJson(`${aggregator.adminUrl}/v1/status`)).status).toBe(200);
  });

  it('the aggregator stopped while reports arrive: the agent spools and retries; after a restart on the same spool, all are delivered once', async () => {
    const port = new URL(aggregator.url).port;
    expect((await stopProc(aggregator.proc, 'SIGTERM')).code).toBe(0);
    await postToAgent(privateReports(DURING_OUTAGE, CHAIN));
    const waiting = await eventually(async () => {
      const s = await agentStatus();
      const failing = s.organisations.some((l) => l.lastError?.includes('forward POST to the aggregator failed'));
      return failing && s.spool.pending + s.spool.inflight === DURING_OUTAGE ? s : undefined;
    }, 30_000, 100);
    expect(waiting.spool.accepted).toBe(CHAIN + OPENDATA);
    aggregator = await startSidecarProcess({ ...aggregatorEnv, PCM_INGEST_PORT: port }, aggregatorArgs);
    expect(new URL(aggregator.url).port).toBe(port);
    await postToAgent(privateReports(AFTER_OUTAGE, CHAIN + DURING_OUTAGE));
    await expectAllAtEmulatorOnce();
    await eventually(async () => ((await agentStatus()).spool.pending === 0 ? true : undefined), 30_000, 100);
  });

  it('a wrong forward token: 401, the agent holds the reports and /readyz says why; the right token in the file delivers them', async () => {
    const before = (await stats()).reports.ACCEPTED ?? 0;
    await writeFile(agentToken, 'not-the-token-but-long-enough-0000\n');
    // Past the agent's check of the file (PCM_CREDENTIAL_RETRY_MS), so the next batch goes with the wrong token.
    await new Promise((resolve) => setTimeout(resolve, 600));
    await postToAgent(privateReports(HELD, CHAIN + DURING_OUTAGE + AFTER_OUTAGE));
    const refused = await eventually(async () => {
      const answer = await agentReady();
      const lane = answer.body.organisations.find((o) => o.code === 'PCM_FORWARD_REFUSED');
      return answer.status === 503 && lane ? lane : undefined;
    }, 30_000, 100);
    expect(refused.reason).toContain('the aggregator answered 401');
    expect(refused.reason).toContain('bearer token is not one this ingest accepts');
    const held = await agentStatus();
    expect(held.spool.pending + held.spool.inflight).toBe(HELD);
    expect((await stats()).reports.ACCEPTED ?? 0).toBe(before);
    // The token never reaches the agent's logs.
    expect(agent.proc.lines.join('\n')).not.toContain('not-the-token-but-long-enough');
    // The aggregator counts what it refused (its metrics are on its admin listener, open).
    const metrics = { text: await (await fetch(`${aggregator.adminUrl}/metrics`)).text() };
    expect(metrics.text).toMatch(/pcm_sidecar_ingest_request_duration_seconds_count\{route="\/v1\/reports",status_code="401"\} [1-9]/);

    await writeFile(agentToken, `${TOKEN}\n`);
    await expectAllAtEmulatorOnce();
    const ready = await eventually(async () => {
      const answer = await agentReady();
      return answer.status === 200 ? answer.body : undefined;
    }, 30_000, 100);
    expect(ready.ready).toBe(true);
  });

  it("an item the aggregator refuses becomes a dead letter at the agent, with the aggregator's message; the rest of its batch is delivered", async () => {
    const [first, second] = privateReports(2, CHAIN + DURING_OUTAGE + AFTER_OUTAGE + HELD);
    const refused: Record<string, unknown> = { ...validReport(0), endpoint: NOT_AT_AGGREGATOR };
    expect((await postJson(`${agent.url}/v1/reports`, [first, refused, second])).status).toBe(202);
    await expectAllAtEmulatorOnce();
    const row = await eventually(async () => {
      const found = agentRow(refused.fapiInteractionId as string);
      return found?.state === 'discarded' ? found : undefined;
    }, 30_000, 100);
    expect(row.message).toContain('Refused by the aggregator: Unlisted endpoint');
    expect(row.message).toContain(NOT_AT_AGGREGATOR);
    expect(agentRow(first!.fapiInteractionId as string)?.state).toBe('accepted');
  });

  it('after a clean stop, every row of the agent is accepted (without a PCM reportId) but the dead letter; the aggregator holds the reportIds', async () => {
    expect((await stopProc(agent.proc, 'SIGTERM')).code).toBe(0);
    expect((await stopProc(aggregator.proc, 'SIGTERM')).code).toBe(0);
    const agentRows = rows(agentSpool);
    expect(agentRows).toHaveLength(expected.size + opendataSent + 1);
    expect(agentRows.filter((r) => r.state === 'discarded')).toHaveLength(1);
    for (const r of agentRows) {
      if (r.state !== 'discarded') expect(r.state).toBe('accepted');
      expect(r.reportId).toBeNull();
    }
    const aggregatorRows = rows(aggregatorSpool);
    expect(aggregatorRows).toHaveLength(expected.size + opendataSent);
    for (const r of aggregatorRows) {
      expect(r.state).toBe('accepted');
      expect(r.reportId).toMatch(/^[0-9a-f-]{36}$/);
    }
    // The refused item is in the aggregator's quarantine, where its operator sees it.
    const db = new Database(aggregatorSpool, { readonly: true });
    try {
      const quarantined = db.prepare('SELECT problems FROM quarantine').all() as { problems: string }[];
      expect(quarantined.some((q) => q.problems.includes('Unlisted endpoint'))).toBe(true);
    } finally {
      db.close();
    }
  });

  function agentRow(fapi: string): { state: string; message: string | null } | undefined {
    const db = new Database(agentSpool, { readonly: true });
    try {
      return db.prepare('SELECT state, pcm_message AS message FROM reports WHERE fapi_interaction_id = ?').get(fapi) as { state: string; message: string | null } | undefined;
    } finally {
      db.close();
    }
  }
});

function rows(path: string): { state: string; reportId: string | null }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT state, report_id AS reportId FROM reports').all() as { state: string; reportId: string | null }[];
  } finally {
    db.close();
  }
}

async function getText(url: string, ca: Buffer, identity: { cert: Buffer; key: Buffer }): Promise<{ status: number; text: string }> {
  const { Agent, request } = await import('undici');
  const dispatcher = new Agent({ connect: { ca, ...identity } });
  try {
    const res = await request(url, { dispatcher });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}
