import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import { prepareReport, type RuleOptions, type ValidationResult } from '../../src/report/validate.js';
import { CLIENT_ORG, SERVER_ORG } from '../helpers/pki.js';
import { FIXED_FAPI, FIXED_NOW, fixedClient, fixedOpendata, fixedServer, without } from '../helpers/reports.js';

/** pcm-rules.md §15, rule by rule: a passing and a failing case each, with the message the gateway team sees. */

const NOW = FIXED_NOW;
const RULES: RuleOptions = { ...DEFAULTS.rules };
const catalog = loadCatalog();
const rules = (overrides: Partial<RuleOptions> = {}) =>
  reportRules({ organisations: [{ orgId: CLIENT_ORG }, { orgId: SERVER_ORG }], opendataOrgId: SERVER_ORG, rules: { ...RULES, ...overrides } }, catalog);
const check = (item: unknown, overrides: Partial<RuleOptions> = {}): ValidationResult => prepareReport(item, rules(overrides).validation(NOW));

const FAPI = FIXED_FAPI;
const client = fixedClient;
const server = fixedServer;
const opendata = fixedOpendata;

type Case = [rule: string, passing: Record<string, unknown>, failing: unknown, field: string, message: string | RegExp, overrides?: Partial<RuleOptions>];

const CASES: Case[] = [
  ['required keys per role (CLIENT)', client(), without(client(), 'httpMethod'), 'httpMethod', 'Missing fields: httpMethod'],
  ['required keys per role (SERVER)', server(), without(server(), 'serverOrgId'), 'serverOrgId', 'Missing fields: serverOrgId'],
  ['fapiInteractionId always present', server(), without(server(), 'fapiInteractionId'), 'fapiInteractionId', 'Missing fields: fapiInteractionId'],
  ['exact camelCase keys', client(), { ...client(), fapiinteractionid: FAPI }, 'fapiinteractionid', "Additional property not allowed: 'fapiinteractionid'"],
  ['no null values', client(), client({ correlationId: null }), 'correlationId', "Missing property, correlationId can't be empty (null)"],
  ['role is CLIENT or SERVER', client(), client({ role: 'PROXY' }), 'role', "Invalid enum value. Expected 'CLIENT' | 'SERVER', received 'PROXY'"],
  ['fapiInteractionId is a UUID', server(), server({ fapiInteractionId: 'abc-123' }), 'fapiInteractionId', /^Invalid format: fapiInteractionId/],
  ['fapiInteractionId is not the nil UUID', server(), server({ fapiInteractionId: '00000000-0000-0000-0000-000000000000' }), 'fapiInteractionId', 'fapiInteractionId mismatch. Ensure the ID is not "00000000-0000-0000-0000-000000000000."'],
  ['org ids are UUIDs', server(), server({ clientOrgId: 'bank-a' }), 'clientOrgId', /^Invalid format: clientOrgId/],
  ['clientSSId is a UUID', client(), client({ clientSSId: 'clientSSId' }), 'clientSSId', /^Invalid format: clientSSId/],
  ['clientSSId is not the nil UUID', client(), client({ clientSSId: '00000000-0000-0000-0000-000000000000' }), 'clientSSId', 'Invalid field value: clientSSId must not be the nil UUID'],
  ['endpoint is listed (template, current version)', server(), server({ endpoint: '/open-banking/accounts/v1/accounts' }), 'endpoint', 'Unlisted endpoint: /open-banking/accounts/v1/accounts'],
  ['httpMethod is GET|POST|PUT|PATCH|DELETE', server(), server({ httpMethod: 'HEAD' }), 'httpMethod', "Invalid enum value. Expected 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH', received 'HEAD'"],
  ['statusCode ≥ 200', server({ statusCode: 200 }), server({ statusCode: 199 }), 'statusCode', 'Invalid field value: statusCode: statusCode must be between 200 and 599'],
  ['statusCode ≤ 599', server({ statusCode: 599 }), server({ statusCode: 600 }), 'statusCode', 'Invalid field value: statusCode: statusCode must be between 200 and 599'],
  ['statusCode is an integer', server({ statusCode: 408 }), server({ statusCode: '408' }), 'statusCode', 'Field type mismatch: statusCode: expected number, received string'],
  ['processTimespan ≥ 1', server({ processTimespan: 1 }), server({ processTimespan: 0 }), 'processTimespan', 'Invalid field value: processTimespan must be greater than zero'],
  ['processTimespan is a number', server({ processTimespan: 120.5 }), server({ processTimespan: '120' }), 'processTimespan', 'Field type mismatch: processTimespan: expected number, received string'],
  ['processTimespan integer when so configured (§13.4)', server({ processTimespan: 120 }), server({ processTimespan: 120.5 }), 'processTimespan', 'Field type mismatch: processTimespan: expected integer milliseconds', { processTimespan: 'integer' }],
  ['timestamp format', server(), server({ timestamp: '22/11/2026 11:59' }), 'timestamp', /^Invalid format: timestamp/],
  ['timestamp not older than 7 days', server({ timestamp: '2026-11-15T12:00:01.000Z' }), server({ timestamp: '2026-11-15T11:59:59.000Z' }), 'timestamp', 'Report is too old'],
  ['timestamp not more than 5 minutes ahead', server({ timestamp: '2026-11-22T12:05:00.000Z' }), server({ timestamp: '2026-11-22T12:05:00.001Z' }), 'timestamp', 'Invalid field value: timestamp is more than 5 minutes in the future'],
  ['correlationId pattern', client({ correlationId: "journey-1 /a:b_c.d'e" }), client({ correlationId: 'journey?id=1' }), 'correlationId', /^Invalid format: correlationId/],
  ['correlationId ≤ 100 characters', client({ correlationId: 'x'.repeat(100) }), client({ correlationId: 'x'.repeat(101) }), 'correlationId', /^Invalid field value: correlationId/],
  ['endpointUriPrefix pattern', client(), client({ endpointUriPrefix: 'https://api.bank.com.br/open~x' }), 'endpointUriPrefix', /^Invalid format: endpointUriPrefix/],
  ['endpointUriPrefix not empty', client(), client({ endpointUriPrefix: '' }), 'endpointUriPrefix', 'Invalid field value: endpointUriPrefix should not be empty'],
  ['timestamp is a real date', server(), server({ timestamp: '2026-11-31T11:59:00.000Z' }), 'timestamp', 'Invalid field value: Invalid timestamp format'],
  ['processTimespan within int16 when integer (§13.4)', server({ processTimespan: 32767 }), server({ processTimespan: 40000 }), 'processTimespan', 'Invalid field value: processTimespan must be at most 32767 (int16)', { processTimespan: 'integer' }],
  ['endpointUriPrefix ≤ 200 characters', client({ endpointUriPrefix: `https://a.br/${'x'.repeat(187)}` }), client({ endpointUriPrefix: `https://a.br/${'x'.repeat(188)}` }), 'endpointUriPrefix', /^Invalid field value: endpointUriPrefix/],
  ['CLIENT reporter is a configured organisation', client(), client({ clientOrgId: '2a01e202-e8f0-5f5a-9651-ebc257371e6e' }), 'clientOrgId', "clientOrgId '2a01e202-e8f0-5f5a-9651-ebc257371e6e' is invalid to role 'CLIENT': not an organisation this sidecar reports for"],
  ['SERVER reporter is a configured organisation', server(), server({ serverOrgId: '2a01e202-e8f0-5f5a-9651-ebc257371e6e' }), 'serverOrgId', "serverOrgId '2a01e202-e8f0-5f5a-9651-ebc257371e6e' is invalid to role 'SERVER': not an organisation this sidecar reports for"],
  ['CLIENT additionalInfo is an object', client(), client({ additionalInfo: [] }), 'additionalInfo', /additionalInfo/],
  ['opendata: exactly its six fields', opendata(), { ...opendata(), role: undefined, serverOrgId: SERVER_ORG }, 'serverOrgId', "Additional property not allowed: 'serverOrgId'"],
  ['opendata: endpoint from the opendata list', opendata(), opendata({ endpoint: '/open-banking/channels/v1/branches' }), 'endpoint', 'Unlisted endpoint: /open-banking/channels/v1/branches'],
  ['opendata: additionalInfo required', opendata(), without(opendata(), 'additionalInfo'), 'additionalInfo', 'Missing fields: additionalInfo'],
];

describe('validation rules (pcm-rules.md §15)', () => {
  it.each(CASES)('%s', (_rule, passing, failing, field, message, overrides) => {
    const ok = check(passing, overrides);
    expect(ok.ok ? [] : ok.problems).toEqual([]);
    const refused = check(failing, overrides);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    const problem = refused.problems.find((p) => p.field === field);
    expect(problem, JSON.stringify(refused.problems)).toBeDefined();
    if (typeof message === 'string') expect(problem!.message).toBe(message);
    else expect(problem!.message).toMatch(message);
  });

  it('reports every problem of an item, not only the first', () => {
    const result = check(server({ statusCode: 700, httpMethod: 'HEAD', endpoint: '/x' }));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.map((p) => p.field).sort()).toEqual(['httpMethod', 'statusCode']);
  });

  it('keeps the report as canonical JSON and identifies it for de-duplication', () => {
    const result = check(client());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(JSON.parse(result.json)).toEqual(client());
    expect(result.stream).toBe('private');
    expect(result.reporterOrgId).toBe(CLIENT_ORG);
    expect(result.dedupKey).toBe(`CLIENT|${FAPI}|/open-banking/accounts/v2/accounts/{accountId}/balances|GET|2026-11-22T11:59:00.000Z`);
    const od = check(opendata());
    expect(od.ok && od.stream).toBe('opendata');
    expect(od.ok && od.reporterOrgId).toBe(SERVER_ORG);
  });
});

describe('normalisation: repairs that cannot change meaning, counted per kind', () => {
  const repaired = (item: Record<string, unknown>) => {
    const result = check(item);
    expect(result.ok ? [] : result.problems).toEqual([]);
    return result.ok ? { report: JSON.parse(result.json) as Record<string, unknown>, repairs: result.repairs } : { report: {}, repairs: [] };
  };

  it('concrete path → template; literal segments win; query and trailing slash ignored', () => {
    expect(repaired(server({ endpoint: '/open-banking/accounts/v2/accounts/123/balances?page=2' }))).toEqual({
      report: server(),
      repairs: ['endpoint_templated'],
    });
    const v4 = repaired(server({ endpoint: '/open-banking/payments/v4/pix/payments/consents/urn:x:1/', httpMethod: 'GET' }));
    expect(v4.report.endpoint).toBe('/open-banking/payments/v4/pix/payments/consents/{consentId}');
  });

  it('full request URL → endpoint template and endpointUriPrefix (the path before /open-banking)', () => {
    const { report, repairs } = repaired(
      client({ endpoint: 'https://api.bank.com.br/open/open-banking/accounts/v2/accounts/9/balances', endpointUriPrefix: undefined }),
    );
    expect(report.endpoint).toBe('/open-banking/accounts/v2/accounts/{accountId}/balances');
    expect(report.endpointUriPrefix).toBe('https://api.bank.com.br/open');
    expect(repairs.sort()).toEqual(['endpoint_templated', 'uri_prefix_derived']);
    const prefix = repaired(client({ endpointUriPrefix: 'https://openbanking.instituicao-1.com.br/opbk/open-banking/accounts/v2/accounts/9/balances' }));
    expect(prefix.report.endpointUriPrefix).toBe('https://openbanking.instituicao-1.com.br/opbk');
  });

  it('/token keeps the whole URL as endpointUriPrefix, without the query', () => {
    const token = client({
      endpoint: '/token',
      httpMethod: 'POST',
      endpointUriPrefix: 'https://oauth2.cartaodummy.opf.instituicao/as/token.oauth2?x=1',
      additionalInfo: { grantType: 'CLIENT_CREDENTIALS', tokenId: 'c9ng8aKzxNXm' },
    });
    expect(repaired(token).report.endpointUriPrefix).toBe('https://oauth2.cartaodummy.opf.instituicao/as/token.oauth2');
  });

  it.each([
    ['2026-11-22T08:59:00-03:00', '2026-11-22T11:59:00.000Z'],
    ['2026-11-22T11:59:00Z', '2026-11-22T11:59:00.000Z'],
    ['2026-11-22T11:59:00.123456Z', '2026-11-22T11:59:00.123Z'],
    ['2026-11-22T14:29:00.5+0230', '2026-11-22T11:59:00.500Z'],
    [Date.parse('2026-11-22T11:59:00.250Z'), '2026-11-22T11:59:00.250Z'],
    [Date.parse('2026-11-22T11:59:00.250Z') * 1000 + 999, '2026-11-22T11:59:00.250Z'],
  ])('timestamp %s → %s', (input, expected) => {
    const { report, repairs } = repaired(server({ timestamp: input }));
    expect(report.timestamp).toBe(expected);
    expect(repairs).toEqual(['timestamp_normalised']);
  });

  it('refuses timestamps it would have to guess or change: no offset, epoch seconds, impossible dates', () => {
    for (const timestamp of ['2026-11-22T11:59:00', Math.floor(NOW / 1000), '2026-02-30T10:00:00Z', '2026-11-31T08:00:00-03:00']) {
      const result = check(server({ timestamp }));
      expect(result.ok).toBe(false);
    }
  });

  it('enum case and keys the SERVER role must not send', () => {
    const { report, repairs } = repaired(
      server({ role: 'server', httpMethod: 'get', clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d', endpointUriPrefix: 'https://x', correlationId: 'j' }),
    );
    expect(report).toEqual(server());
    expect(repairs.sort()).toEqual(['enum_case', 'server_key_removed']);
  });

  it('anything else wrong is refused, not guessed', () => {
    expect(check(server({ fapiInteractionID: FAPI })).ok).toBe(false);
    expect(check(server({ httpMethod: 'FETCH' })).ok).toBe(false);
    expect(check(server({ endpoint: '/open-banking/accounts/v9/accounts' })).ok).toBe(false);
  });
});
