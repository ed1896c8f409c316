import Database from 'better-sqlite3';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { postJson } from '../helpers/http.js';
import { CLIENT_ORG, SERVER_ORG, tempDir } from '../helpers/pki.js';
import { adminSection } from '../helpers/admin.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const VALID = ['client-accounts-balances', 'client-timeout-pix-payment', 'server-accounts-balances', 'server-generated-fapi-consent'];

/** Several organisations are configured, so each log URL says whose calls it carries. */
const ownOrg = (sample: string): string => (sample.startsWith('client') ? CLIENT_ORG : SERVER_ORG);

type Answer = { accepted: number; rejected?: number; results?: { status: string; errors?: { field: string }[] }[] };

/** The gateway samples through the real HTTP routes, to PCM reports in the spool. */
describe('gateway routes: Kong and Envoy samples become spooled PCM reports', () => {
  let sidecar: RunningSidecar;
  let spoolPath: string;

  beforeAll(async () => {
    const dir = await tempDir('gateways');
    spoolPath = join(dir, 'spool.db');
    const config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: spoolPath },
      pcm: { apiUrl: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' },
      organisations: [
        { orgId: CLIENT_ORG, clientId: 'c', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none.pem'), clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d' },
        { orgId: SERVER_ORG, clientId: 's', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none.pem') },
      ],
      // The samples carry fixed dates; the PCM's 7-day window is not what this test is about.
      rules: { maxAgeMs: 10 * 365 * 24 * 60 * 60 * 1000 },
    });
    sidecar = await startSidecar(config, createLogger('silent'));
  });
  afterAll(async () => sidecar.stop());

  const spooled = (): { body: string; repairs: string | null }[] => {
    const db = new Database(spoolPath, { readonly: true });
    try {
      return db.prepare('SELECT body, repairs FROM reports ORDER BY id').all() as { body: string; repairs: string | null }[];
    } finally {
      db.close();
    }
  };

  it.each(VALID)('Kong %s → 202, one report', async (name) => {
    const payload = await readFile(join(FIXTURES, 'kong', `${name}.json`), 'utf8');
    const answer = await postJson<Answer>(`${sidecar.ingestUrl}/v1/gateways/kong?orgId=${ownOrg(name)}`, payload);
    expect(answer.body).toEqual({ accepted: 1, duplicates: 0, warnings: 0 });
  });

  it.each(VALID)('Envoy %s → 202, one report', async (name) => {
    const line = await readFile(join(FIXTURES, 'envoy', `${name}.jsonl`), 'utf8');
    const answer = await postJson<Answer>(`${sidecar.ingestUrl}/v1/gateways/envoy?orgId=${ownOrg(name)}`, line, {
      'content-type': 'application/x-ndjson',
    });
    // The Envoy samples describe the same calls as the Kong ones: the same reports, so duplicates.
    expect(answer.status).toBe(202);
    expect(answer.body.accepted + (answer.body as { duplicates: number }).duplicates).toBe(1);
  });

  it('the timeout sample is reported as 408 and the server sample with its template', () => {
    const reports = spooled().map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(reports.some((r) => r.statusCode === 408 && r.role === 'CLIENT')).toBe(true);
    expect(reports.some((r) => r.role === 'SERVER' && r.endpoint === '/open-banking/accounts/v2/accounts/{accountId}/balances')).toBe(true);
  });

  it.each([
    ['kong', 'malformed-no-fapi', 'request.headers.x-fapi-interaction-id'],
    ['kong', 'malformed-no-counterparty', 'pcm.counterpartyOrgId'],
    ['envoy', 'malformed-no-fapi', 'fapi_interaction_id'],
  ])('%s %s → 207 naming %s', async (gateway, name, field) => {
    const body = await readFile(join(FIXTURES, gateway, `${name}.${gateway === 'kong' ? 'json' : 'jsonl'}`), 'utf8');
    const answer = await postJson<Answer>(`${sidecar.ingestUrl}/v1/gateways/${gateway}`, body, {
      'content-type': gateway === 'kong' ? 'application/json' : 'application/x-ndjson',
    });
    expect(answer.status).toBe(207);
    expect(answer.body.results![0]!.errors!.map((e) => e.field)).toContain(field);
  });
});
