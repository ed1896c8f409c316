import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { fromEnvoy } from '../../src/ingest/gateways/envoy.js';
import { fromKong } from '../../src/ingest/gateways/kong.js';
import { buildReport } from '../../src/report/build.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import { tokenIdOf } from '../../src/report/token-id.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { postJson } from '../helpers/http.js';
import { offlineConfig } from '../helpers/stack.js';
import { CLIENT_ORG, SERVER_ORG, tempDir } from '../helpers/pki.js';
import { clientInteraction, validReport } from '../helpers/reports.js';

/**
 * Issue #7 at the ingest boundary: quality findings are sent and shown, discards refused; tokenId from the call's
 * token (never kept); health checks skipped; an answer log shippers count as success; identical refusals folded.
 */

type Problem = { field: string; rule: string; message: string };
type ItemResult = { index: number; status: string; errors?: Problem[]; warnings?: Problem[]; reason?: string };
type Answer = { accepted: number; duplicates: number; warnings: number; rejected?: number; skipped?: number; results?: ItemResult[] };

// A fixed token and pepper; the expected tokenId is computed by openssl, independently of the code under test.
const TOKEN = 'eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';
const PEPPER = 'pepper-0123456789abcdef-pepper!'; // 31 bytes = 248 bits

function opensslTokenId(token: string, pepper: string): string {
  const digest = execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: token + pepper });
  return digest.subarray(0, 9).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

describe('ingest: quality findings, tokenId, skipping, partial answers', () => {
  let sidecar: RunningSidecar;
  let spoolPath: string;
  let base: string;
  let logFile: string;
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir('quality');
    spoolPath = join(dir, 'spool.db');
    const pepperFile = join(dir, 'pepper');
    await writeFile(pepperFile, `${PEPPER}\n`);
    logFile = join(dir, 'sidecar.log');
    const config = offlineConfig(dir, { tokenId: { pepperFile } });
    const { pino } = await import('pino');
    const log = pino({ level: 'trace' }, pino.destination({ dest: logFile, sync: true }));
    sidecar = await startSidecar(config, log);
    base = sidecar.ingestUrl;
  });
  afterAll(async () => sidecar?.stop());

  const db = <T>(sql: string, ...params: unknown[]): T[] => {
    const conn = new Database(spoolPath, { readonly: true });
    try {
      return conn.prepare(sql).all(...params) as T[];
    } finally {
      conn.close();
    }
  };

  const interaction = clientInteraction;

  it("seed 000's uri: consentId and a missing tokenId are sent, with warnings, stored and counted", async () => {
    const report: Record<string, unknown> = { ...validReport(0), additionalInfo: { consentId: 'uri:bv:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf' } };
    const answer = await postJson<Answer>(`${base}/v1/reports`, [report, validReport(1)]);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ accepted: 2, duplicates: 0, warnings: 1 });
    const first = answer.body.results?.[0];
    expect(first?.status).toBe('accepted');
    expect(first?.warnings?.map((w) => w.rule)).toEqual(['additionalInfo.tokenId.missing', 'additionalInfo.format']);
    expect(answer.body.results?.[1]).toEqual({ index: 1, status: 'accepted' });

    const [row] = db<{ findings: string; state: string }>('SELECT findings, state FROM reports WHERE fapi_interaction_id = ?', report.fapiInteractionId);
    expect(row?.state).toBe('pending');
    expect((JSON.parse(row!.findings) as Problem[]).map((f) => f.rule)).toEqual(['additionalInfo.tokenId.missing', 'additionalInfo.format']);

    const metrics = await (await request(`${sidecar.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/pcm_sidecar_report_quality_findings_total\{rule="additionalInfo.tokenId.missing"\} [1-9]/);
    expect(metrics).toMatch(/pcm_sidecar_report_quality_findings_total\{rule="additionalInfo.format"\} [1-9]/);
  });

  it('a discard is still refused and quarantined; its remarks come along as warnings', async () => {
    const bad: Record<string, unknown> = { ...validReport(0), httpMethod: 'HEAD', additionalInfo: { consentId: 'uri:x' } };
    const answer = await postJson<Answer>(`${base}/v1/reports`, [bad]);
    expect(answer.status).toBe(207);
    expect(answer.body.results?.[0]?.status).toBe('rejected');
    expect(answer.body.results?.[0]?.errors?.map((e) => e.rule)).toEqual(['enum']);
    expect(db('SELECT id FROM reports WHERE fapi_interaction_id = ?', bad.fapiInteractionId)).toEqual([]);
  });

  it('tokenId from the accessToken or the Authorization value, equal to openssl; none on 4xx; the token kept nowhere', async () => {
    const expected = opensslTokenId(TOKEN, PEPPER);
    expect(tokenIdOf(TOKEN, Buffer.from(PEPPER))).toBe(expected);
    const fromToken = interaction({ accessToken: TOKEN });
    const fromHeader = interaction({ accessToken: `Bearer ${TOKEN}` });
    const failed = interaction({ accessToken: TOKEN, status: 403, additionalInfo: { consentId: 'urn:banco:C1', errorCodes: 'FORBIDDEN' } });
    const answer = await postJson<Answer>(`${base}/v1/interactions`, [fromToken, fromHeader, failed]);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ accepted: 3, warnings: 0 });
    const bodies = db<{ body: string }>(
      'SELECT body FROM reports WHERE fapi_interaction_id IN (?, ?, ?) ORDER BY id',
      ...[fromToken, fromHeader, failed].map((i) => String(i.fapiInteractionId)),
    ).map((r) => JSON.parse(r.body) as { additionalInfo: Record<string, unknown> });
    expect(bodies.map((b) => b.additionalInfo.tokenId)).toEqual([expected, expected, undefined]);

    // A refused interaction carrying the token: quarantined with the token redacted.
    const refused = interaction({ accessToken: `Bearer ${TOKEN}`, url: 'https://api.banco.com.br/open-banking/nothing/v1/x' });
    expect((await postJson<Answer>(`${base}/v1/interactions`, [refused])).status).toBe(207);
    const raw = await postJson<Answer>(`${base}/v1/interactions`, `{"authorization": "Bearer ${TOKEN}", "broken`);
    expect(raw.status).toBe(400);

    // Scan everything the sidecar wrote: spool, WAL, logs, metrics.
    const metrics = await (await request(`${sidecar.adminUrl}/metrics`)).body.text();
    const files = (await readdir(dir)).filter((f) => f !== 'pepper');
    const contents = await Promise.all(files.map((f) => readFile(join(dir, f))));
    const texts = [metrics, ...contents.map((b) => b.toString('latin1'))];
    for (const text of texts) {
      expect(text.includes(TOKEN)).toBe(false);
      expect(text.includes(PEPPER)).toBe(false);
    }
    expect(db<{ item: string }>('SELECT item FROM quarantine').some((q) => q.item.includes('[redacted]'))).toBe(true);
  });

  it('a duration in seconds is converted explicitly; one with no unit is refused, never guessed', async () => {
    const seconds = interaction({ durationMs: undefined, durationSeconds: '0.250' });
    const both = interaction({ durationSeconds: 0.25 });
    const answer = await postJson<Answer>(`${base}/v1/interactions`, [seconds, both]);
    expect(answer.status).toBe(207);
    const [row] = db<{ body: string }>('SELECT body FROM reports WHERE fapi_interaction_id = ?', seconds.fapiInteractionId);
    expect((JSON.parse(row!.body) as { processTimespan: number }).processTimespan).toBe(250);
    expect(answer.body.results?.[1]?.errors?.[0]?.message).toMatch(/durationMs or durationSeconds, not both/);
  });

  it("Fluent Bit's date key is tolerated; health checks are skipped, not quarantined", async () => {
    const before = db<{ n: number }>('SELECT count(*) AS n FROM quarantine')[0]!.n;
    const shipped = { ...interaction(), date: 1764590000.123 };
    const health = { ...interaction({ url: 'https://api.banco.com.br/healthz' }), date: 1764590000.2 };
    const kongHealth = { request: { method: 'GET', uri: '/readyz', headers: {} }, response: { status: 200 }, started_at: Date.now() };
    const answer = await postJson<Answer>(`${base}/v1/interactions`, [shipped, health]);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ accepted: 1, skipped: 1 });
    expect(answer.body.results?.[1]).toMatchObject({ status: 'skipped' });
    const kong = await postJson<Answer>(`${base}/v1/gateways/kong?role=SERVER`, [kongHealth]);
    expect(kong.body).toMatchObject({ accepted: 0, skipped: 1 });
    expect(db<{ n: number }>('SELECT count(*) AS n FROM quarantine')[0]!.n).toBe(before);
    const metrics = await (await request(`${sidecar.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/pcm_sidecar_ingest_items_total\{route="\/v1\/interactions",outcome="skipped"\} 1/);
  });

  it('?partialStatus=202 answers a shipper with success; a re-posted chunk folds into one quarantine row per item', async () => {
    const refused = { ...interaction({ url: 'https://api.banco.com.br/open-banking/unknown/v9/thing' }), date: 1 };
    const chunk = [interaction(), refused];
    const first = await postJson<Answer>(`${base}/v1/interactions?partialStatus=202`, chunk);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(first.body.results?.[1]?.status).toBe('rejected');
    for (let i = 0; i < 3; i++) {
      const again = await postJson<Answer>(`${base}/v1/interactions?partialStatus=202`, chunk);
      expect(again.body).toMatchObject({ accepted: 0, duplicates: 1, rejected: 1 });
    }
    const rows = db<{ count: number; received_at: number; last_seen_at: number }>(
      'SELECT count, received_at, last_seen_at FROM quarantine WHERE item LIKE ?',
      '%unknown/v9/thing%',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.count).toBe(4);
    expect(rows[0]!.last_seen_at).toBeGreaterThanOrEqual(rows[0]!.received_at);
    // Without the option, the default 207.
    expect((await postJson<Answer>(`${base}/v1/interactions`, chunk)).status).toBe(207);
  });

  it('?role= gives interactions without a role theirs (a log format need not carry it); the item\'s own wins', async () => {
    const { role: _, ...roleless } = interaction();
    const answer = await postJson<Answer>(`${base}/v1/interactions?role=CLIENT`, [roleless, interaction({ role: 'CLIENT' })]);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ accepted: 2 });
    expect((await postJson<Answer>(`${base}/v1/interactions`, [{ ...roleless, fapiInteractionId: crypto.randomUUID() }])).status).toBe(207);
  });

  it('never logs the token at trace level', async () => {
    const text = await readFile(logFile, 'utf8');
    expect(text.length).toBeGreaterThan(0);
    expect(text.includes(TOKEN)).toBe(false);
  });
});

describe('tokenId through the Kong and Envoy mappings', () => {
  const FIXTURES = new URL('../fixtures/', import.meta.url);
  const BV = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
  const CAIXA = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';
  const build = reportRules(
    { organisations: [{ orgId: BV, clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d' }, { orgId: CAIXA }], opendataOrgId: null, rules: { ...DEFAULTS.rules }, tokenIdPepper: Buffer.from(PEPPER) },
    loadCatalog(),
  ).build;
  const expected = opensslTokenId(TOKEN, PEPPER);
  const withoutTokenId = (text: string): string => text.replace(/,\\?"tokenId\\?":\\?"c9ng8aKzxNXm\\?"/g, '');

  it('Kong: pcm.accessToken (the Authorization value) becomes tokenId; SERVER records ignore it', async () => {
    const payload = JSON.parse(withoutTokenId(await readFile(new URL('kong/client-accounts-balances.json', FIXTURES), 'utf8'))) as {
      pcm: Record<string, unknown>;
    };
    payload.pcm.accessToken = `Bearer ${TOKEN}`;
    const mapped = fromKong(payload, {});
    expect(mapped.ok).toBe(true);
    const built = mapped.ok ? buildReport(mapped.interaction, build) : null;
    expect(built?.ok && (built.item.additionalInfo as Record<string, unknown>).tokenId).toBe(expected);
    const server = JSON.parse(await readFile(new URL('kong/server-accounts-balances.json', FIXTURES), 'utf8')) as { pcm: Record<string, unknown> };
    server.pcm.accessToken = `Bearer ${TOKEN}`;
    const serverMapped = fromKong(server, {});
    expect(serverMapped.ok && serverMapped.interaction.accessToken).toBeUndefined();
  });

  it('Envoy: pcm_access_token (%REQ(AUTHORIZATION)%) becomes tokenId', async () => {
    const line = JSON.parse(withoutTokenId(await readFile(new URL('envoy/client-accounts-balances.jsonl', FIXTURES), 'utf8'))) as Record<string, unknown>;
    line.pcm_access_token = `Bearer ${TOKEN}`;
    line.pcm_org_id = BV;
    const mapped = fromEnvoy(line, {});
    expect(mapped.ok).toBe(true);
    const built = mapped.ok ? buildReport(mapped.interaction, build) : null;
    expect(built?.ok && (built.item.additionalInfo as Record<string, unknown>).tokenId).toBe(expected);
  });
});
