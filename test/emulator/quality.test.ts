import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PkiFiles } from '../../src/pki/certs.js';
import { QUALITY_LOG_LIMIT, QualityLog, type QualityFinding, type QualitySnapshot } from '../../src/emulator/store.js';
import { startEmulatorProcess } from '../helpers/stack.js';
import { startCli } from '../helpers/processes.js';
import {
  BANRISUL,
  BV,
  CAIXA,
  EmulatorHarness,
  OPENDATA,
  PRIVATE,
  SEED_ORGS,
  clientReport,
  makePki,
  opendataReport,
  serverReport,
  type ReportResult,
} from './harness.js';

/**
 * The emulator's two severities over HTTP: quality-level findings leave the report ACCEPTED and show at
 * GET /emulator/quality; prototype-named keys and hostile values are data (never a 500, never a wrong DISCARDED);
 * `errorCodesAs` / `--error-codes` switch the errorCodes form.
 */

type Item = Record<string, unknown>;
const URN = (): string => `urn:bank:${randomUUID()}`;
const TOKEN_ID = 'c9ng8aKzxNXm';
const CONSENTS = '/open-banking/consents/v3/consents';

let pki: PkiFiles;
beforeAll(async () => {
  pki = await makePki(SEED_ORGS, 'quality');
});

const client = (over: Item = {}): Item => clientReport(BV, CAIXA, over);
const server = (over: Item = {}): Item => serverReport(clientReport(BV, CAIXA), over);

interface QualityCase {
  name: string;
  stream?: 'opendata';
  item: () => Item;
  /** [rule, field] of each finding, in order. */
  findings: [string, string][];
}

const CASES: QualityCase[] = [
  { name: 'consentId not a URN', item: () => client({ additionalInfo: { consentId: 'uri:bank:1', tokenId: TOKEN_ID } }), findings: [['urn', 'additionalInfo.consentId']] },
  {
    name: 'enrollmentId not a URN',
    item: () => client({ endpoint: '/open-banking/enrollments/v2/enrollments/{enrollmentId}', additionalInfo: { enrollmentId: 'enr-1', tokenId: TOKEN_ID } }),
    findings: [['urn', 'additionalInfo.enrollmentId']],
  },
  {
    name: 'recurringConsentId not a URN',
    item: () =>
      client({ endpoint: '/open-banking/automatic-payments/v2/recurring-consents/{recurringConsentId}', additionalInfo: { recurringConsentId: 'rc-1', tokenId: TOKEN_ID } }),
    findings: [['urn', 'additionalInfo.recurringConsentId']],
  },
  { name: 'CLIENT below 400 without tokenId', item: () => client({ additionalInfo: { consentId: URN() } }), findings: [['tokenId.missing', 'additionalInfo.tokenId']] },
  { name: 'tokenId not 12 base64url characters', item: () => client({ additionalInfo: { consentId: URN(), tokenId: 'short' } }), findings: [['tokenId.format', 'additionalInfo.tokenId']] },
  {
    name: 'consentId with grantType CLIENT_CREDENTIALS on /token (DISCARDED before)',
    item: () => client({ endpoint: '/token', httpMethod: 'POST', additionalInfo: { grantType: 'CLIENT_CREDENTIALS', consentId: URN(), tokenId: TOKEN_ID } }),
    findings: [['token.clientCredentials', 'additionalInfo.consentId']],
  },
  {
    name: 'enrollmentId with grantType CLIENT_CREDENTIALS on /token',
    item: () => client({ endpoint: '/token', httpMethod: 'POST', additionalInfo: { grantType: 'CLIENT_CREDENTIALS', enrollmentId: URN(), tokenId: TOKEN_ID } }),
    findings: [['token.clientCredentials', 'additionalInfo.enrollmentId']],
  },
  {
    name: 'SERVER consent creation without dropReason',
    item: () => server({ endpoint: CONSENTS, httpMethod: 'POST', statusCode: 201 }),
    findings: [['dropReason.missing', 'additionalInfo.dropReason']],
  },
  {
    name: 'SERVER dropReason not NO_CREDENTIAL on a non-201',
    item: () => server({ endpoint: '/open-banking/enrollments/v2/enrollments', httpMethod: 'POST', statusCode: 422, additionalInfo: { dropReason: 'NONE' } }),
    findings: [['dropReason.noCredential', 'additionalInfo.dropReason']],
  },
  { name: 'dropReason outside the consent-creation POSTs', item: () => server({ additionalInfo: { dropReason: 'NONE' } }), findings: [['dropReason.outsideCreation', 'additionalInfo.dropReason']] },
  {
    name: 'SERVER additionalInfo keys other than dropReason',
    item: () => server({ endpoint: CONSENTS, httpMethod: 'POST', statusCode: 201, additionalInfo: { dropReason: 'NONE', consentId: URN() } }),
    findings: [['server.unknownKey', 'additionalInfo.consentId']],
  },
  {
    name: 'PJ without companyProfileInfo on consent creation',
    item: () => client({ endpoint: '/open-banking/payments/v5/consents', httpMethod: 'POST', statusCode: 201, additionalInfo: { consentId: URN(), personType: 'PJ', tokenId: TOKEN_ID } }),
    findings: [['companyProfileInfo.missing', 'additionalInfo.companyProfileInfo']],
  },
  {
    name: 'opendata without clientIp (DISCARDED before)',
    stream: 'opendata',
    item: () => opendataReport({ additionalInfo: { region: 'sul' } }),
    findings: [['opendata.clientIp.missing', 'additionalInfo.clientIp']],
  },
  {
    name: 'opendata clientIp not an IP address',
    stream: 'opendata',
    item: () => opendataReport({ additionalInfo: { clientIp: 'not-an-ip' } }),
    findings: [['opendata.clientIp.format', 'additionalInfo.clientIp']],
  },
];

/** Clean twins: ACCEPTED and no finding at all. */
const CLEAN: [string, () => Item, 'opendata'?][] = [
  ['a CLIENT report with a URN consentId and a tokenId', () => client()],
  ['a CLIENT 404 without tokenId', () => client({ statusCode: 404, additionalInfo: { consentId: URN() } })],
  ['a /register POST without tokenId', () => client({ endpoint: '/register', httpMethod: 'POST', additionalInfo: { webhookEnable: 'TRUE' } })],
  ['AUTHORIZATION_CODE with consentId on /token', () => client({ endpoint: '/token', httpMethod: 'POST', additionalInfo: { grantType: 'AUTHORIZATION_CODE', consentId: URN(), tokenId: TOKEN_ID } })],
  ['SERVER consent creation with NO_CREDENTIAL on a 422', () => server({ endpoint: CONSENTS, httpMethod: 'POST', statusCode: 422, additionalInfo: { dropReason: 'NO_CREDENTIAL' } })],
  ['a SERVER GET without additionalInfo', () => server()],
  [
    'PJ with companyProfileInfo',
    () =>
      client({
        endpoint: CONSENTS,
        httpMethod: 'POST',
        statusCode: 201,
        additionalInfo: { consentId: URN(), personType: 'PJ', companyProfileInfo: { naturezaJuridica: '2062', porteEmpresa: '03' }, tokenId: TOKEN_ID },
      }),
  ],
  ['opendata with an IPv6 clientIp', () => opendataReport({ additionalInfo: { clientIp: '2001:db8::1' } }), 'opendata'],
];

function reporterOf(item: Item): string {
  return item.role === 'SERVER' ? CAIXA : BV;
}

async function quality(h: EmulatorHarness): Promise<QualitySnapshot> {
  const res = await h.call<QualitySnapshot>('/emulator/quality');
  expect(res.status).toBe(200);
  return res.body;
}

describe('GET /emulator/quality: quality-level findings leave the report ACCEPTED', () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki);
  });
  afterAll(async () => h.close());

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const item = c.item();
    const sent = await h.send(reporterOf(item), [item], c.stream === 'opendata' ? OPENDATA : PRIVATE);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toEqual([{ reportId: expect.any(String), status: 'ACCEPTED' }]);
    const reportId = sent.body[0]!.reportId;
    const mine = (await quality(h)).findings.filter((f) => f.reportId === reportId);
    expect(mine.map((f) => [f.rule, f.field])).toEqual(c.findings);
    for (const f of mine) {
      expect(f).toEqual({
        fapiInteractionId: c.stream === 'opendata' ? null : item.fapiInteractionId,
        endpoint: item.endpoint,
        role: c.stream === 'opendata' ? null : item.role,
        rule: expect.any(String),
        field: expect.any(String),
        message: expect.stringMatching(/\S/),
        reportId,
      });
    }
    // Accepted means stored as such: it goes on to reconciliation like any other.
    const stored = await h.reports({ _limit: 100_000 });
    expect(stored.data.find((r) => r.reportId === reportId)?.status).toBe('ACCEPTED');
  });

  it.each(CLEAN)('no finding for %s', async (_name, make, stream) => {
    const item = make();
    const sent = await h.send(reporterOf(item), [item], stream === 'opendata' ? OPENDATA : PRIVATE);
    expect(sent.body).toEqual([{ reportId: expect.any(String), status: 'ACCEPTED' }]);
    expect((await quality(h)).findings.filter((f) => f.reportId === sent.body[0]!.reportId)).toEqual([]);
  });
});

describe('GET /emulator/quality: totals, order, discarded reports and reset', () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki);
  });
  afterEach(async () => {
    await h.call('/emulator/reset', {});
    h.forgetTokens();
  });
  afterAll(async () => h.close());

  it('counts by rule, newest last; DISCARDED reports add nothing; reset empties it', async () => {
    expect(await quality(h)).toEqual({ total: 0, byRule: {}, findings: [] });
    const first = client({ additionalInfo: { consentId: 'uri:bank:1' } }); // urn + tokenId.missing
    const discarded = client({ httpMethod: 'HEAD', additionalInfo: { consentId: 'uri:bank:2' } });
    const second = client({ additionalInfo: { consentId: 'uri:bank:3', tokenId: TOKEN_ID } }); // urn
    const batch = await h.send(BV, [first, discarded, second]);
    expect(batch.body.map((r: ReportResult) => r.status)).toEqual(['ACCEPTED', 'DISCARDED', 'ACCEPTED']);
    const od = await h.send(BANRISUL, [opendataReport({ additionalInfo: { clientIp: 'x' } })], OPENDATA);

    const snapshot = await quality(h);
    expect(snapshot.total).toBe(4);
    expect(snapshot.byRule).toEqual({ urn: 2, 'tokenId.missing': 1, 'opendata.clientIp.format': 1 });
    expect(snapshot.findings.map((f) => [f.reportId, f.rule])).toEqual([
      [batch.body[0]!.reportId, 'urn'],
      [batch.body[0]!.reportId, 'tokenId.missing'],
      [batch.body[2]!.reportId, 'urn'],
      [od.body[0]!.reportId, 'opendata.clientIp.format'],
    ]);
    expect(snapshot.findings.some((f) => f.reportId === batch.body[1]!.reportId)).toBe(false);
    expect(h.emulator.qualitySnapshot()).toEqual(snapshot);

    await h.call('/emulator/reset', {});
    expect(await quality(h)).toEqual({ total: 0, byRule: {}, findings: [] });
  });

  it('only GET is served', async () => {
    expect((await h.call('/emulator/quality', {})).status).toBe(404);
  });
});

describe('QualityLog: bounded, oldest dropped first', () => {
  const finding = (n: number, rule = 'urn'): QualityFinding => ({
    fapiInteractionId: null,
    endpoint: null,
    role: null,
    rule,
    field: 'additionalInfo.consentId',
    message: `finding ${n}`,
    reportId: `r${n}`,
  });

  it('keeps the newest `limit` findings in order; counts cover everything recorded', () => {
    const log = new QualityLog(3);
    for (let n = 1; n <= 7; n++) log.add(finding(n, n % 2 === 0 ? 'tokenId.missing' : 'urn'));
    const snapshot = log.snapshot();
    expect(snapshot.findings.map((f) => f.reportId)).toEqual(['r5', 'r6', 'r7']);
    expect(snapshot.total).toBe(7);
    expect(snapshot.byRule).toEqual({ urn: 4, 'tokenId.missing': 3 });
    log.add(finding(8));
    expect(log.snapshot().findings.map((f) => f.reportId)).toEqual(['r6', 'r7', 'r8']);
    log.reset();
    expect(log.snapshot()).toEqual({ total: 0, byRule: {}, findings: [] });
    log.add(finding(9));
    expect(log.snapshot().findings.map((f) => f.reportId)).toEqual(['r9']);
  });

  it('below the limit nothing is dropped; exactly at it neither', () => {
    const log = new QualityLog(4);
    for (let n = 1; n <= 4; n++) log.add(finding(n));
    expect(log.snapshot().findings.map((f) => f.reportId)).toEqual(['r1', 'r2', 'r3', 'r4']);
  });

  it('the emulator keeps 10 000; a limit below 1 is refused', () => {
    expect(QUALITY_LOG_LIMIT).toBe(10_000);
    const log = new QualityLog();
    for (let n = 1; n <= QUALITY_LOG_LIMIT + 5; n++) log.add(finding(n));
    const { findings, total } = log.snapshot();
    expect(total).toBe(QUALITY_LOG_LIMIT + 5);
    expect(findings).toHaveLength(QUALITY_LOG_LIMIT);
    expect(findings[0]!.reportId).toBe('r6');
    expect(findings.at(-1)!.reportId).toBe(`r${QUALITY_LOG_LIMIT + 5}`);
    expect(() => new QualityLog(0)).toThrow(RangeError);
  });
});

// ─────────────────────────────────────────── prototype safety over HTTP ───────────────────────────────────────────

const PROTOTYPE_KEYS = ['constructor', 'toString', 'isPrototypeOf', '__proto__', 'hasOwnProperty', 'valueOf'];

/** `item` as JSON text with `"key": value` put into additionalInfo (or at the top level). */
function withRawKey(item: Item, key: string, value: unknown, where: 'additionalInfo' | 'top' = 'additionalInfo'): string {
  const text = JSON.stringify(item);
  const entry = `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  return where === 'top' ? `{${entry},${text.slice(1)}` : text.replace('"additionalInfo":{', `"additionalInfo":{${entry},`);
}

describe('prototype-named keys and hostile values over HTTP', () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki);
  });
  afterAll(async () => h.close());

  it.each(PROTOTYPE_KEYS)('CLIENT additionalInfo key %s with a string value: ACCEPTED (was DISCARDED "Expected function Object()…")', async (key) => {
    const item = client();
    const res = await h.send(BV, `[${withRawKey(item, key, 'x')}]`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual([{ reportId: expect.any(String), status: 'ACCEPTED' }]);
    // Stored as sent, the key an own property of additionalInfo.
    const stored = (await h.reports({ fapiInteractionId: item.fapiInteractionId as string })).data[0]!;
    expect(Object.hasOwn(stored.report.additionalInfo as object, key)).toBe(true);
    // With a non-string value it is the ordinary type discard.
    const bad = await h.send(BV, `[${withRawKey(client(), key, { a: 1 })}]`);
    expect(bad.body).toEqual([expect.objectContaining({ status: 'DISCARDED', message: `Invalid type: additionalInfo.${key}: Expected string, received object` })]);
  });

  it.each(PROTOTYPE_KEYS)('SERVER and opendata additionalInfo key %s: ACCEPTED', async (key) => {
    const s = await h.send(CAIXA, `[${withRawKey(server({ additionalInfo: { dropReason: 'NONE' } }), key, 'x')}]`);
    expect(s.body).toEqual([{ reportId: expect.any(String), status: 'ACCEPTED' }]);
    const od = await h.send(BANRISUL, `[${withRawKey(opendataReport(), key, 'x')}]`, OPENDATA);
    expect(od.body).toEqual([{ reportId: expect.any(String), status: 'ACCEPTED' }]);
  });

  it.each(PROTOTYPE_KEYS)('top-level key %s: DISCARDED as an unrecognized key, not a 500', async (key) => {
    const res = await h.send(BV, `[${withRawKey(client(), key, { polluted: true }, 'top')}]`);
    expect(res.status).toBe(207);
    expect(res.body).toEqual([expect.objectContaining({ status: 'DISCARDED', message: `Invalid format: : Unrecognized key(s) in object: '${key}'` })]);
    const od = await h.send(BANRISUL, `[${withRawKey(opendataReport(), key, 1, 'top')}]`, OPENDATA);
    expect(od.body).toEqual([expect.objectContaining({ status: 'DISCARDED', message: `Invalid format: : Unrecognized key(s) in object: '${key}'` })]);
  });

  it('values whose toString is not callable: DISCARDED with a message, stored, and readable back — never a 500', async () => {
    const hostile = { toString: 1, valueOf: 1 };
    const fapi = randomUUID();
    // CAIXA sends a SERVER report whose clientOrgId and endpoint are such objects.
    const item = server({ fapiInteractionId: fapi, clientOrgId: hostile, endpoint: hostile, httpMethod: hostile, correlationId: hostile });
    const before = h.emulator.snapshot().duplicatesReceived;
    const sent = await h.send(CAIXA, [item]);
    expect(sent.status).toBe(207);
    expect(sent.body[0]!.message).toBe(
      [
        'Invalid format: clientOrgId: Invalid uuid',
        'Unlisted endpoint: {"toString":1,"valueOf":1}',
        `Invalid enum value. Expected 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', received '{"toString":1,"valueOf":1}'`,
        'Invalid correlationId format',
      ].join('; '),
    );
    // The same report again is a duplicate: its identity is built without calling the objects' toString.
    expect((await h.send(CAIXA, [item])).status).toBe(207);
    expect(h.emulator.snapshot().duplicatesReceived - before).toBe(1);
    // Another organisation looking it up: 404 (it is party to nothing), not a 500 from String(clientOrgId).
    expect((await h.byId(BV, fapi)).status).toBe(404);
    expect((await h.byId(CAIXA, fapi)).body).toMatchObject({ status: 'DISCARDED' });
    const role = await h.send(BV, [client({ role: hostile })]);
    expect(role.body[0]!.message).toBe(`Invalid enum value. Expected 'SERVER' | 'CLIENT', received '{"toString":1,"valueOf":1}'`);
    const od = await h.send(BANRISUL, [opendataReport({ endpoint: hostile, timestamp: hostile })], OPENDATA);
    expect(od.body[0]!.message).toBe('Unlisted endpoint: {"toString":1,"valueOf":1}; Invalid field value: Invalid timestamp format');
  });

  it('a top-level role of "CLIENT" only counts when it is an own key ("__proto__": {"role": …} is not)', async () => {
    const item = client();
    delete item.role;
    const res = await h.send(BV, `[${withRawKey(item, '__proto__', { role: 'CLIENT' }, 'top')}]`);
    expect(res.body[0]!.message).toBe('Missing fields: role');
  });
});

// ─────────────────────────────────────────── errorCodes form ───────────────────────────────────────────

const withErrorCodes = (errorCodes: unknown): Item =>
  client({ endpoint: '/open-banking/payments/v4/pix/payments', httpMethod: 'POST', statusCode: 422, additionalInfo: { consentId: URN(), errorCodes } });

describe('errorCodesAs', () => {
  it('default (string): an array is DISCARDED (it was ACCEPTED before), a string ACCEPTED', async () => {
    const h = await EmulatorHarness.start(pki);
    try {
      const res = await h.send(BV, [withErrorCodes(['PARAMETRO_INVALIDO']), withErrorCodes('PARAMETRO_INVALIDO')]);
      expect(res.body.map((r: ReportResult) => [r.status, r.message])).toEqual([
        ['DISCARDED', 'Invalid type: additionalInfo.errorCodes: Expected string, received array'],
        ['ACCEPTED', undefined],
      ]);
    } finally {
      await h.close();
    }
  });

  it("'array': an array of strings is ACCEPTED, a string or a non-string item DISCARDED", async () => {
    const h = await EmulatorHarness.start(pki, { errorCodesAs: 'array' });
    try {
      const res = await h.send(BV, [withErrorCodes(['PARAMETRO_INVALIDO']), withErrorCodes('PARAMETRO_INVALIDO'), withErrorCodes(['A', 2])]);
      expect(res.body.map((r: ReportResult) => [r.status, r.message])).toEqual([
        ['ACCEPTED', undefined],
        ['DISCARDED', 'Invalid type: additionalInfo.errorCodes: Expected array, received string'],
        ['DISCARDED', 'Invalid type: additionalInfo.errorCodes.1: Expected string, received number'],
      ]);
    } finally {
      await h.close();
    }
  });

  it('pcm-sidecar emulate --error-codes array: the process takes arrays; a bad value is a usage error (64)', async () => {
    const started = await startEmulatorProcess(pki, ['--error-codes', 'array']);
    const ca = await readFile(pki.caCert);
    const files = pki.clients[BV]!;
    const mtls = new Agent({ connect: { ca, cert: await readFile(files.cert), key: await readFile(files.key) } });
    const api = new Agent({ connect: { ca } });
    try {
      const tokenRes = await request(`${started.authUrl}/token/`, {
        method: 'POST',
        dispatcher: mtls,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: `ss-${BV.slice(0, 8)}`, grant_type: 'client_credentials' }),
      });
      const token = ((await tokenRes.body.json()) as { access_token: string }).access_token;
      const res = await request(`${started.url}${PRIVATE}`, {
        method: 'POST',
        dispatcher: api,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify([withErrorCodes(['PARAMETRO_INVALIDO']), withErrorCodes('PARAMETRO_INVALIDO')]),
      });
      const body = (await res.body.json()) as ReportResult[];
      expect(body.map((r) => r.status)).toEqual(['ACCEPTED', 'DISCARDED']);
      const quality = await request(`${started.url}/emulator/quality`, { dispatcher: api });
      expect(((await quality.body.json()) as QualitySnapshot).total).toBe(0);
    } finally {
      started.proc.child.kill('SIGTERM');
      await started.proc.exited;
      await Promise.all([mtls.close(), api.close()]);
    }

    const bad = startCli(['emulate', '--error-codes', 'list', '--cert', pki.serverCert, '--key', pki.serverKey, '--ca', pki.caCert]);
    expect((await bad.exited).code).toBe(64);
    expect(bad.lines.join('\n')).toContain('--error-codes must be "string" or "array", got "list"');
    const help = startCli(['emulate', '--help']);
    expect((await help.exited).code).toBe(0);
    expect(help.lines.join('\n')).toContain('--error-codes');
  });
});
