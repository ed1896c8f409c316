import Database from 'better-sqlite3';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTokenIdPepper } from '../../src/config/pepper.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { configSchema } from '../../src/config/schema.js';
import { loadRuleSettings } from '../../src/config/load.js';
import { boundedJson, redactText, redactUrl } from '../../src/ingest/redact.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import { bearerToken } from '../../src/report/token-id.js';
import { prepareReport } from '../../src/report/validate.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { postJson } from '../helpers/http.js';
import { offlineConfig } from '../helpers/stack.js';
import { CLIENT_ORG, SERVER_ORG, tempDir } from '../helpers/pki.js';
import { FIXED_NOW, fixedClient, fixedServer, validReport } from '../helpers/reports.js';

/** Defects an independent review found in the issue #7 change, each pinned by a test. */

const TOKEN = 'eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJyZXZpZXcifQ.c2lnbmF0dXJlLXJldmlldw';
const context = reportRules(
  { organisations: [{ orgId: CLIENT_ORG }, { orgId: SERVER_ORG }], opendataOrgId: SERVER_ORG, rules: { ...DEFAULTS.rules } },
  loadCatalog(),
).validation(FIXED_NOW);

describe('validation the PCM would not do', () => {
  it('processTimespan 0.5 is sent (greater than zero, type number)', () => {
    expect(prepareReport(fixedServer({ processTimespan: 0.5 }), context).ok).toBe(true);
    expect(prepareReport(fixedServer({ processTimespan: 0 }), context).ok).toBe(false);
  });

  it('POST /register/{clientId} with {} is sent: only PUT there needs webhookEnable', () => {
    const register = fixedClient({ endpoint: '/register/{clientId}', httpMethod: 'POST', endpointUriPrefix: 'https://as.bank.com.br/reg/x', additionalInfo: {} });
    expect(prepareReport(register, context).ok).toBe(true);
    expect(prepareReport({ ...register, httpMethod: 'PUT' }, context).ok).toBe(false);
  });

  it("an own __proto__ key in additionalInfo is kept and sent, as the PCM's validator sees it", () => {
    const item = JSON.parse(JSON.stringify(fixedClient()).replace('"additionalInfo":{', '"additionalInfo":{"__proto__":"x",')) as Record<string, unknown>;
    const result = prepareReport(item, context);
    expect(result.ok).toBe(true);
    expect(result.ok && result.json).toContain('"__proto__":"x"');
  });

  it('reporter_org cannot be overridden to send (no sender would serve that lane)', () => {
    const base = { pcm: { apiUrl: 'https://a.example', authUrl: 'https://a.example' }, organisations: [{ orgId: CLIENT_ORG, clientId: 'c', certFile: 'c', keyFile: 'k' }] };
    expect(configSchema.safeParse({ ...base, rules: { overrides: { reporter_org: 'send' } } }).success).toBe(false);
    expect(configSchema.safeParse({ ...base, rules: { overrides: { reporter_org: 'refuse' } } }).success).toBe(true);
  });
});

describe('secrets', () => {
  it('a raw token in additionalInfo is neither sent nor stored: its value becomes [redacted]', () => {
    const result = prepareReport(fixedClient({ additionalInfo: { consentId: 'urn:b:1', tokenId: TOKEN, authorization: `Bearer ${TOKEN}` } }), context);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.json).not.toContain(TOKEN);
    expect(result.repairs).toContain('secret_redacted');
    expect(result.findings.map((f) => f.rule)).toContain('additionalInfo.format');
    expect(JSON.stringify(result.findings)).not.toContain(TOKEN);
  });

  it('redaction reaches strings, truncated lines, escaped JSON and query strings', () => {
    for (const text of [`{"accessToken": "${TOKEN}`, `{"log":"{\\"http_authorization\\":\\"Bearer ${TOKEN}\\"}"}`, `{"log":"{\\"access_token\\":\\"${TOKEN}\\"}"}`]) {
      expect(redactText(text)).not.toContain(TOKEN);
    }
    expect(boundedJson({ date: 1, log: `{"http_authorization":"Bearer ${TOKEN}"}` }, 10_000).text).not.toContain(TOKEN);
    expect(redactUrl(`/v1/interactions?orgId=${CLIENT_ORG}&access_token=${TOKEN}&role=CLIENT`)).toBe(`/v1/interactions?orgId=${CLIENT_ORG}&access_token=[redacted]&role=CLIENT`);
  });

  it('a hash sent as tokenId is kept whatever its length; a token in any value is redacted (second review)', () => {
    const sha = 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg'; // 43 base64url characters: a full SHA-256
    const kept = prepareReport(fixedClient({ additionalInfo: { consentId: 'urn:b:1', tokenId: sha } }), context);
    expect(kept.ok && JSON.parse(kept.json).additionalInfo.tokenId).toBe(sha);
    const short = prepareReport(fixedClient({ additionalInfo: { consentId: 'urn:b:1', tokenId: 'Bearer S3cr3tV4lu3xyz', note: 'Bearer S3cr3tN0te' } }), context);
    expect(short.ok && short.json).not.toMatch(/S3cr3t/);
  });

  it('text redaction: array values, escaped quotes, header lines, encoded query names, parse errors (second review)', async () => {
    expect(redactText('{"cookie":["a=1","sid=SECRET"]}')).not.toContain('SECRET');
    expect(redactText('{"http_cookie":"sid=\\"SECRET\\""}')).not.toContain('SECRET');
    expect(redactText('POST /x HTTP/1.1\r\nAuthorization: Basic U0VDUkVU\r\nCookie: sid=SECRET\r\n')).not.toMatch(/U0VDUkVU|SECRET/);
    expect(redactUrl('/v1/x?access%5Ftoken=SECRET;access_token=SECRET2&orgId=o')).toBe('/v1/x?access%5Ftoken=[redacted];access_token=[redacted]&orgId=o');
    const { parseBody } = await import('../../src/ingest/body.js');
    const [line] = parseBody(Buffer.from('{"x-api-key": S3cr3tV4lue}\n'), 'ndjson');
    expect(line?.ok === false && line.error).not.toMatch(/S3cr3t/);
  });

  it('"Bearer " and "[redacted]" are no tokens', () => {
    expect(bearerToken('Bearer ')).toBeNull();
    expect(bearerToken('[redacted]')).toBeNull();
    expect(bearerToken(`bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken('Basic abc')).toBeNull();
  });

  it('a text pepper loses its newline; a binary one keeps every byte, 0x0a included', async () => {
    const dir = await tempDir('pepper');
    const text = join(dir, 'text');
    await writeFile(text, `${'ab'.repeat(32)}\n`);
    expect(Buffer.from(readTokenIdPepper(text)!).toString()).toBe('ab'.repeat(32));
    const binary = join(dir, 'binary');
    const bytes = Buffer.concat([Buffer.alloc(31, 0x01), Buffer.from([0x0a])]);
    await writeFile(binary, bytes);
    expect(Buffer.from(readTokenIdPepper(binary)!)).toEqual(bytes);
    const short = join(dir, 'short');
    await writeFile(short, 'abc\n');
    expect(() => readTokenIdPepper(short)).toThrow(/PCM_TOKEN_ID_PEPPER_FILE/);
  });
});

describe('validate reads PCM_RULE_* without a config file', () => {
  it('takes the variables and names a bad one', () => {
    expect(loadRuleSettings({ PCM_RULE_QUALITY: 'refuse', PCM_RULE_ERROR_CODES: 'array' })).toMatchObject({ quality: 'refuse', errorCodesAs: 'array' });
    expect(() => loadRuleSettings({ PCM_RULE_QUALITY: 'sometimes' })).toThrow(/PCM_RULE_QUALITY/);
  });
});

describe('ingest answers and quarantine', () => {
  let sidecar: RunningSidecar;
  let spoolPath: string;
  beforeAll(async () => {
    const dir = await tempDir('review');
    spoolPath = join(dir, 'spool.db');
    sidecar = await startSidecar(
      offlineConfig(dir),
      (await import('../../src/log.js')).createLogger('silent'),
    );
  });
  afterAll(async () => sidecar?.stop());
  const quarantine = (): { problems: string; item: string; source: string }[] => {
    const db = new Database(spoolPath, { readonly: true });
    try {
      return db.prepare('SELECT problems, item, source FROM quarantine').all() as { problems: string; item: string; source: string }[];
    } finally {
      db.close();
    }
  };

  it('never echoes a token in errors, warnings or the quarantined problems', async () => {
    const withToken = { ...validReport(0), accessToken: `Bearer ${TOKEN}` };
    const withHeaders = { ...validReport(2), headers: { authorization: `Bearer ${TOKEN}` } };
    const answer = await postJson(`${sidecar.ingestUrl}/v1/reports?access_token=${TOKEN}`, [withToken, withHeaders]);
    expect(answer.status).toBe(207);
    expect(JSON.stringify(answer.body)).not.toContain(TOKEN);
    const rows = quarantine();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) expect(`${row.problems}${row.item}${row.source}`).not.toContain(TOKEN);
  });

  it('counts as warnings the items that carry them, duplicates and refused ones included', async () => {
    const remark = { ...validReport(0), additionalInfo: { consentId: 'uri:x:1', tokenId: 'c9ng8aKzxNXm' } };
    const answer = await postJson<{ accepted: number; duplicates: number; warnings: number }>(`${sidecar.ingestUrl}/v1/reports`, [remark, remark]);
    expect(answer.body).toMatchObject({ accepted: 1, duplicates: 1, warnings: 2 });
  });

  it('folds identical refusals per URL: a different ?orgId is a different item', async () => {
    const item = { role: 'CLIENT', method: 'GET', url: 'https://b.com.br/open-banking/nope/v1/x', status: 200, startTime: Date.now(), durationMs: 1, fapiInteractionId: crypto.randomUUID(), counterpartyOrgId: SERVER_ORG };
    for (const org of [CLIENT_ORG, CLIENT_ORG, SERVER_ORG]) await postJson(`${sidecar.ingestUrl}/v1/interactions?orgId=${org}`, [item]);
    const mine = quarantine().filter((q) => q.item.includes(String(item.fapiInteractionId)));
    expect(mine.map((q) => q.source.split(' ')[2]).sort()).toEqual([`/v1/interactions?orgId=${CLIENT_ORG}`, `/v1/interactions?orgId=${SERVER_ORG}`].sort());
  });
});
