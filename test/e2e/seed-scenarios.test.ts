import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import type { StoredReport } from '../../src/emulator/store.js';
import { generatePki } from '../../src/pki/certs.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { Agent, request } from 'undici';
import { getJson, postJson, postTls } from '../helpers/http.js';
import { tempDir } from '../helpers/pki.js';
import { startInProcessEmulator } from '../helpers/stack.js';
import { adminSection } from '../helpers/admin.js';

/**
 * Seed 000 (Manual de Integração, "Exemplos de chamadas"), its six scenarios as the manual prints them, through the
 * sidecar and the emulator. The manual's text is below as it is, typographic quotes and missing commas included;
 * `asSent` makes it JSON and brings it to today, and changes nothing else:
 *   - the typographic quotes become ASCII and the comma missing after `additionalInfo` is added (or it is not JSON);
 *   - the endpoint v1 → v2 (v1 is off the accepted list) and the 2022 timestamps → now (past the 7-day window);
 *   - each scenario gets its own fapiInteractionId (the manual reuses one in all six, which would pair them across);
 *   - the `"clientSSId": "clientSSId"` placeholder → a UUID: the PCM discards it ("Invalid format: clientSSId:
 *     Invalid uuid", pcm-rules.md §8.3), so no scenario could reach PAIRED with it;
 *   - scenario 4's text says httpMethod is missing, but its JSON has one: it is removed, as the text says.
 * The `uri:` consentIds (the PCM's quality rule wants `urn:`) and the absent tokenId (2025D) stay as printed: the PCM
 * would accept those reports and remark on them, so the sidecar sends them with quality findings.
 */

const BV = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const CAIXA = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';
const BANRISUL = '2a01e202-e8f0-5f5a-9651-ebc257371e6e';
const GERENCIANET = 'b43131be-6a7f-5bfb-b436-c3ac5c5c2dac';

const MANUAL_CLIENT = (bank: string, clientOrgId: string | null, serverOrgId: string | null, statusCode = 200, endpoint = V1) => `{
  “role”: “CLIENT”,
  "timestamp": "2022-08-31T17:43:13.622Z",
  "fapiInteractionId": "cd9a2e6b-0c33-403b-a8dd-544e95c63cd8",
  "endpoint": "${endpoint}",
  “additionalInfo”: {
    “consentId”: “uri:${bank}:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf“,
    “personType”: “PF“
  }
  "statusCode": ${statusCode},
  "httpMethod": "GET",${clientOrgId ? `\n  "clientOrgId": "${clientOrgId}",` : ''}${serverOrgId ? `\n  "serverOrgId": "${serverOrgId}",` : ''}
  "processTimespan": 120,
  "clientSSId": "clientSSId",
  "endpointUriPrefix": "https://openbanking.instituicao.com.br/namespace"
}`;
const MANUAL_SERVER = (clientOrgId: string, serverOrgId: string, statusCode: number) => `{
  “role”: “SERVER”,
  "timestamp": "2022-08-31T17:44:42.812Z",
  "fapiInteractionId": "cd9a2e6b-0c33-403b-a8dd-544e95c63cd8",
  "endpoint": "${V1}",
  "statusCode": ${statusCode},
  "httpMethod": "GET",
  "clientOrgId": "${clientOrgId}",
  "serverOrgId": "${serverOrgId}",
  "processTimespan": 90
}`;
const V1 = '/open-banking/unarranged-accounts-overdraft/v1/contracts/{contractId}/scheduled-instalments';
const SS_ID = 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

function asSent(manual: string, fapiInteractionId: string, drop: string[] = []): Record<string, unknown> {
  const json = manual
    .replace(/[“”]/g, '"')
    .replace(/}\n(\s*"statusCode")/, '},\n$1')
    .replace('/unarranged-accounts-overdraft/v1/', '/unarranged-accounts-overdraft/v2/')
    .replace('"clientSSId": "clientSSId"', `"clientSSId": "${SS_ID}"`)
    .replace('cd9a2e6b-0c33-403b-a8dd-544e95c63cd8', fapiInteractionId);
  const report = JSON.parse(json) as Record<string, unknown>;
  // The manual's server timestamp is 89.19 s after the client's.
  report.timestamp = new Date(Date.now() - (report.role === 'SERVER' ? 120_000 - 89_190 : 120_000)).toISOString();
  for (const key of drop) delete report[key];
  return report;
}

type Problem = { field: string; rule: string; message: string };
type Answer = { accepted: number; rejected?: number; warnings: number; results?: { status: string; errors?: Problem[]; warnings?: Problem[] }[] };

describe("seed 000's six scenarios through sidecar and emulator", () => {
  let emulator: PcmEmulator;
  let sidecar: RunningSidecar;
  let ca: Buffer;
  let pki: Awaited<ReturnType<typeof generatePki>>;

  beforeAll(async () => {
    const dir = await tempDir('seed');
    pki = await generatePki(join(dir, 'pki'), [BV, CAIXA, BANRISUL, GERENCIANET].map((orgId) => ({ orgId, clientId: `ss-${orgId.slice(0, 8)}` })));
    ca = await readFile(pki.caCert);
    emulator = await startInProcessEmulator(pki, { pairingDelayMs: 24 * 60 * 60 * 1000 });
    const config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: join(dir, 'spool.db') },
      pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile: pki.caCert },
      sender: { maxBatchDelayMs: 50, retryInitialDelayMs: 50, retryMaxDelayMs: 500 },
      rate: { fleetSize: 1 },
      organisations: [BV, CAIXA, BANRISUL, GERENCIANET].map((orgId) => ({
        orgId,
        clientId: `ss-${orgId.slice(0, 8)}`,
        certFile: pki.clients[orgId]!.cert,
        keyFile: pki.clients[orgId]!.key,
      })),
    });
    sidecar = await startSidecar(config, createLogger('silent'));
  }, 60_000);
  afterAll(async () => {
    await sidecar?.stop();
    await emulator?.stop();
  });

  async function atEmulator(fapi: string, count: number): Promise<StoredReport[]> {
    for (let i = 0; i < 200; i++) {
      const { body } = await getJson<{ data: StoredReport[] }>(`${emulator.url}/emulator/reports?fapiInteractionId=${fapi}`, ca);
      if (body.data.length >= count) return body.data;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${fapi}: fewer than ${count} reports reached the emulator`);
  }

  async function reconciled(fapi: string, count: number): Promise<Record<string, string>> {
    await atEmulator(fapi, count);
    expect((await postTls(`${emulator.url}/emulator/reconcile`, {}, ca)).status).toBe(200);
    const { body } = await getJson<{ data: StoredReport[] }>(`${emulator.url}/emulator/reports?fapiInteractionId=${fapi}`, ca);
    return Object.fromEntries(body.data.map((r) => [(r.report as { role: string }).role, r.status]));
  }

  const post = (items: unknown[]) => postJson<Answer>(`${sidecar.ingestUrl}/v1/reports`, items);

  it('1 PAIRED: both sent; the uri: consentId and the missing tokenId are quality findings, not refusals', async () => {
    const fapi = randomUUID();
    const answer = await post([asSent(MANUAL_CLIENT('bv', BV, CAIXA), fapi), asSent(MANUAL_SERVER(BV, CAIXA, 200), fapi)]);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ accepted: 2, warnings: 1 });
    expect(answer.body.results?.[0]?.warnings?.map((w) => w.rule)).toEqual(['additionalInfo.tokenId.missing', 'additionalInfo.format']);
    expect(await reconciled(fapi, 2)).toEqual({ CLIENT: 'PAIRED', SERVER: 'PAIRED' });
  });

  it('2 PAIRED_INCONSISTENT: both sent, the statuses differ', async () => {
    const fapi = randomUUID();
    const answer = await post([asSent(MANUAL_CLIENT('caixa', CAIXA, BANRISUL), fapi), asSent(MANUAL_SERVER(CAIXA, BANRISUL, 201), fapi)]);
    expect(answer.body).toMatchObject({ accepted: 2 });
    expect(await reconciled(fapi, 2)).toEqual({ CLIENT: 'PAIRED_INCONSISTENT', SERVER: 'PAIRED_INCONSISTENT' });
  });

  it('3 SINGLE: the 408 is sent and stays alone', async () => {
    const fapi = randomUUID();
    const answer = await post([asSent(MANUAL_CLIENT('banrisul', BANRISUL, BV, 408), fapi)]);
    expect(answer.body).toMatchObject({ accepted: 1, warnings: 1 });
    expect(await reconciled(fapi, 1)).toEqual({ CLIENT: 'SINGLE' });
  });

  it('4–6 DISCARDED: refused by the sidecar with the PCM\'s reason, and the emulator discards the same reports', async () => {
    const cases = [
      { report: asSent(MANUAL_CLIENT('gerencianet', GERENCIANET, BV), randomUUID(), ['httpMethod']), message: 'Missing fields: httpMethod', org: GERENCIANET },
      { report: asSent(MANUAL_CLIENT('caixa', CAIXA, BV, 200, '/invalid_endpoint'), randomUUID()), message: 'Unlisted endpoint: /invalid_endpoint', org: CAIXA },
      { report: asSent(MANUAL_CLIENT('banrisul', null, null, 200, '/invalid_endpoint'), randomUUID()), message: 'Missing fields: clientOrgId, serverOrgId', org: BANRISUL },
    ];
    const answer = await post(cases.map((c) => c.report));
    expect(answer.status).toBe(207);
    expect(answer.body).toMatchObject({ accepted: 0, rejected: 3 });
    cases.forEach((c, i) => expect(answer.body.results?.[i]?.errors?.map((e) => e.message)).toContain(c.message));
    // Sent straight to the emulator with the reporter's own token, each is DISCARDED there too: the sidecar refused
    // exactly what the PCM would discard.
    for (const c of cases) {
      const statuses = await sendDirect(c.org, [c.report]);
      expect(statuses, c.message).toEqual([{ status: 'DISCARDED', message: expect.stringContaining(c.message) }]);
    }
  });

  async function sendDirect(org: string, items: unknown[]): Promise<{ status: string; message?: string }[]> {
    const auth = new Agent({ connect: { ca, cert: await readFile(pki.clients[org]!.cert), key: await readFile(pki.clients[org]!.key) } });
    const api = new Agent({ connect: { ca } });
    try {
      const tokenRes = await request(`${emulator.authUrl}/token/`, {
        method: 'POST',
        dispatcher: auth,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: `ss-${org.slice(0, 8)}`, grant_type: 'client_credentials' }),
      });
      const { access_token: token } = (await tokenRes.body.json()) as { access_token: string };
      const res = await request(`${emulator.url}/report-api/v1/private/report/`, {
        method: 'POST',
        dispatcher: api,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(items),
      });
      return ((await res.body.json()) as { status: string; message?: string }[]).map(({ status, message }) => ({ status, ...(message ? { message } : {}) }));
    } finally {
      await auth.close();
      await api.close();
    }
  }
});
