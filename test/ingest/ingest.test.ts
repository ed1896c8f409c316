import Database from 'better-sqlite3';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { postJson } from '../helpers/http.js';
import { CLIENT_ORG, SERVER_ORG, tempDir } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { adminSection } from '../helpers/admin.js';
import { adminJson } from '../helpers/admin.js';

type ItemResult = { index: number; status: string; errors?: { field: string; rule: string; message: string }[] };
type Answer = { accepted: number; duplicates: number; rejected?: number; results?: ItemResult[] };

describe('ingest: POST /v1/reports answers after the commit', () => {
  let sidecar: RunningSidecar;
  let spoolPath: string;
  let url: string;

  beforeAll(async () => {
    const dir = await tempDir('ingest');
    spoolPath = join(dir, 'spool.db');
    // Certificates that do not exist: the sender never sends, so these tests see only ingest and spool.
    const config = configSchema.parse({
      ingest: { port: 0, maxBodyBytes: 64 * 1024 },
      admin: adminSection(dir),
      // Small PCM requests, so a report larger than one can be posted under the body limit.
      sender: { maxBatchBytes: 4096 },
      spool: { path: spoolPath },
      pcm: { apiUrl: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' },
      organisations: [
        { orgId: CLIENT_ORG, clientId: 'c', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none-key.pem') },
        { orgId: SERVER_ORG, clientId: 's', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none-key.pem') },
      ],
    });
    sidecar = await startSidecar(config, createLogger('silent'));
    url = `${sidecar.ingestUrl}/v1/reports`;
  });
  afterAll(async () => sidecar.stop());

  function rowsFor(fapi: string): { body: string; state: string }[] {
    // A second connection: what it sees is committed, not just buffered in the sidecar's connection.
    const db = new Database(spoolPath, { readonly: true });
    try {
      return db.prepare('SELECT body, state FROM reports WHERE fapi_interaction_id = ?').all(fapi) as { body: string; state: string }[];
    } finally {
      db.close();
    }
  }

  function quarantined(): { item: string; problems: string }[] {
    const db = new Database(spoolPath, { readonly: true });
    try {
      return db.prepare('SELECT item, problems FROM quarantine ORDER BY id').all() as { item: string; problems: string }[];
    } finally {
      db.close();
    }
  }

  it('accepts one JSON object with 202, and the row is committed when the answer arrives', async () => {
    const report = validReport(0);
    const answer = await postJson<Answer>(url, report);
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ accepted: 1, duplicates: 0, warnings: 0 });
    const rows = rowsFor(report.fapiInteractionId as string);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.state).toBe('pending');
    expect(JSON.parse(rows[0]!.body)).toEqual(report);
  });

  it('accepts a JSON array and NDJSON', async () => {
    const reports = [validReport(2), validReport(3), validReport(4)];
    expect((await postJson<Answer>(url, reports)).body).toEqual({ accepted: 3, duplicates: 0, warnings: 0 });
    const ndjson = [validReport(6), validReport(7)].map((r) => JSON.stringify(r)).join('\n') + '\n';
    const answer = await postJson<Answer>(url, ndjson, { 'content-type': 'application/x-ndjson' });
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ accepted: 2, duplicates: 0, warnings: 0 });
  });

  it('stores a repeated report once and counts it as a duplicate, also within one body', async () => {
    const report = validReport(8);
    expect((await postJson<Answer>(url, report)).body).toEqual({ accepted: 1, duplicates: 0, warnings: 0 });
    expect((await postJson<Answer>(url, [report, validReport(10)])).body).toEqual({ accepted: 1, duplicates: 1, warnings: 0 });
    const twice = validReport(12);
    expect((await postJson<Answer>(url, [twice, twice])).body).toEqual({ accepted: 1, duplicates: 1, warnings: 0 });
    expect(rowsFor(report.fapiInteractionId as string)).toHaveLength(1);
  });

  it('answers 207 with one result per item in order, naming the field or the repair; refused items are quarantined, not spooled', async () => {
    const missingMethod = validReport(14);
    delete missingMethod.httpMethod;
    const serverWithClientKey = { ...validReport(15), clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d' };
    const foreignReporter = { ...validReport(16), clientOrgId: '2a01e202-e8f0-5f5a-9651-ebc257371e6e' };
    const badStatus = { ...validReport(18), statusCode: 700 };
    const good = validReport(20);
    const answer = await postJson<Answer>(url, [missingMethod, good, serverWithClientKey, foreignReporter, badStatus]);
    expect(answer.status).toBe(207);
    expect(answer.body.accepted).toBe(2);
    expect(answer.body.rejected).toBe(3);
    const results = answer.body.results!;
    expect(results.map((r) => [r.index, r.status])).toEqual([
      [0, 'rejected'],
      [1, 'accepted'],
      [2, 'accepted'],
      [3, 'rejected'],
      [4, 'rejected'],
    ]);
    expect(results[0]!.errors![0]).toMatchObject({ field: 'httpMethod', message: 'Missing fields: httpMethod' });
    // A key the SERVER role must not send is removed, not refused: it cannot change the report's meaning.
    expect(results[2]).toEqual({ index: 2, status: 'accepted', repairs: ['server_key_removed'] });
    expect(results[3]!.errors![0]).toMatchObject({ field: 'clientOrgId', rule: 'reporter_org' });
    expect(results[4]!.errors![0]!.field).toBe('statusCode');

    expect(rowsFor(missingMethod.fapiInteractionId as string)).toHaveLength(0);
    const db = new Database(spoolPath, { readonly: true });
    try {
      const kept = db.prepare('SELECT item, problems, source FROM quarantine').all() as { item: string; problems: string; source: string }[];
      const quarantined = kept.find((q) => JSON.parse(q.item).fapiInteractionId === missingMethod.fapiInteractionId);
      expect(quarantined).toBeDefined();
      expect(JSON.parse(quarantined!.problems)[0].message).toBe('Missing fields: httpMethod');
      expect(quarantined!.source).toContain('/v1/reports');
    } finally {
      db.close();
    }
  });

  it('refuses a report larger than one PCM request (it could never be sent), with short problem values', async () => {
    const big = { ...validReport(30), additionalInfo: { consentId: 'urn:bank:x', tokenId: 'c9ng8aKzxNXm', note: 'n'.repeat(5000) } };
    const answer = await postJson<Answer>(url, [big, { ...validReport(32), endpoint: 'e'.repeat(3000) }]);
    expect(answer.status).toBe(207);
    expect(answer.body.results![0]!.errors![0]).toMatchObject({ rule: 'too_large' });
    expect(answer.body.results![0]!.errors![0]!.message).toMatch(/^Report too large: \d+ bytes; a PCM request holds at most 4094$/);
    const unlisted = answer.body.results![1]!.errors!.find((e) => e.field === 'endpoint') as { value: string };
    expect(unlisted.value).toMatch(/^e{200}… \(3000 characters\)$/);
  });

  it('refuses an NDJSON line that is not JSON on its own, keeping the others', async () => {
    const good = validReport(22);
    const answer = await postJson<Answer>(url, `${JSON.stringify(good)}\n{"role": "CLIENT",\n`, { 'content-type': 'application/x-ndjson' });
    expect(answer.status).toBe(207);
    expect(answer.body.results!.map((r) => r.status)).toEqual(['accepted', 'rejected']);
    expect(answer.body.results![1]!.errors![0]!.message).toMatch(/^Invalid payload format: invalid JSON/);
  });

  it('answers 400 for an unparseable body, 413 over the limit, 415 for other content types, 405 for other methods', async () => {
    const before = quarantined();
    expect((await postJson(url, '{"role": ')).status).toBe(400);
    // Refused as a whole, yet recorded: the text and the reason.
    const kept = quarantined().slice(before.length);
    expect(kept).toHaveLength(1);
    expect(kept[0]!.item).toBe('{"role": ');
    expect(JSON.parse(kept[0]!.problems)[0].rule).toBe('PCM_INGEST_UNPARSEABLE');
    expect((await postJson(url, '42')).status).toBe(400);
    const big = JSON.stringify(Array.from({ length: 400 }, (_, i) => validReport(i)));
    expect(Buffer.byteLength(big)).toBeGreaterThan(64 * 1024);
    expect((await postJson(url, big)).status).toBe(413);
    expect((await postJson(url, 'role=CLIENT', { 'content-type': 'text/plain' })).status).toBe(415);
    const tooMany = Array.from({ length: 5001 }, () => '{}').join('\n');
    const many = await postJson<{ error: string }>(url, tooMany, { 'content-type': 'application/x-ndjson' });
    expect(many.status).toBe(413);
    expect(many.body.error).toBe('Payload Too Large: 5001 items, the limit is 5000');
    const get = await request(url);
    await get.body.text();
    expect(get.statusCode).toBe(405);
  });

  it('reports the spool in /v1/status and is not ready without usable certificates', async () => {
    const { body } = await adminJson<{
      spool: { pending: number; quarantined: number };
      sla: { atRisk: boolean; days: { day: string; received: number; pending: number }[] };
    }>(`${sidecar.adminUrl}/v1/status`);
    expect(body.spool.pending).toBeGreaterThan(0);
    expect(body.spool.quarantined).toBeGreaterThan(0);
    // Counted on the day of each report's timestamp; nothing was delivered (no usable certificates).
    const received = body.sla.days.reduce((n, d) => n + d.received, 0);
    expect(received).toBe(body.spool.pending);
    expect(body.sla.days.reduce((n, d) => n + d.pending, 0)).toBe(received);
    const metrics = await (await request(`${sidecar.adminUrl}/metrics`)).body.text();
    const today = body.sla.days.at(-1)?.day;
    expect(metrics).toMatch(new RegExp(`pcm_sidecar_sla_day_reports\\{day="${today}",outcome="received"\\} \\d+`));
    expect(metrics).toMatch(new RegExp(`pcm_sidecar_sla_at_risk\\{day="${today}"\\} [01]`));
    const ready = await request(`${sidecar.adminUrl}/readyz`);
    await ready.body.text();
    expect(ready.statusCode).toBe(503);
  });

  it('builds reports from raw interactions on /v1/interactions, validated like direct reports', async () => {
    const fapi = '3f0e5a1c-9b7d-4c2e-8a6f-1d2c3b4a5e6f';
    const interaction = {
      role: 'SERVER',
      orgId: SERVER_ORG,
      method: 'GET',
      url: '/opbk/open-banking/accounts/v2/accounts/acc-9/balances',
      status: 200,
      startTime: Date.now() - 2000,
      durationMs: 42,
      fapiInteractionId: fapi,
      counterpartyOrgId: CLIENT_ORG,
    };
    const answer = await postJson<Answer>(`${sidecar.ingestUrl}/v1/interactions`, [interaction, { ...interaction, url: '/open-banking/accounts/v1/accounts' }]);
    expect(answer.status).toBe(207);
    expect(answer.body.results!.map((r) => r.status)).toEqual(['accepted', 'rejected']);
    expect(answer.body.results![1]!.errors![0]!.message).toBe('Unlisted endpoint: /open-banking/accounts/v1/accounts');
    const rows = rowsFor(fapi);
    expect(JSON.parse(rows[0]!.body)).toEqual({
      role: 'SERVER',
      fapiInteractionId: fapi,
      endpoint: '/open-banking/accounts/v2/accounts/{accountId}/balances',
      statusCode: 200,
      httpMethod: 'GET',
      timestamp: new Date(interaction.startTime).toISOString(),
      processTimespan: 42,
      clientOrgId: CLIENT_ORG,
      serverOrgId: SERVER_ORG,
    });
  });

  it('counts items and repairs in /metrics', async () => {
    await postJson<Answer>(url, { ...validReport(40), role: 'client' });
    const res = await request(`${sidecar.adminUrl}/metrics`);
    const text = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(text).toMatch(/pcm_sidecar_report_repairs_total\{kind="enum_case"\} [1-9]/);
    expect(text).toMatch(/pcm_sidecar_ingest_items_total\{route="\/v1\/reports",outcome="rejected"\} [1-9]/);
    expect(text).toMatch(/pcm_sidecar_spool_quarantine_items [1-9]/);
  });
});
