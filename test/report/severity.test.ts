import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import { additionalInfoProblems } from '../../src/report/additional-info.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import type { ReportProblem } from '../../src/report/problem.js';
import { actionOf, DEFAULT_POLICY, RULES, ruleInfo, type RuleId } from '../../src/report/rules.js';
import { prepareReport, withinSize, type RuleOptions, type ValidationResult } from '../../src/report/validate.js';
import { CLIENT_ORG, SERVER_ORG } from '../helpers/pki.js';
import { FIXED_FAPI, FIXED_NOW, FIXED_TOKEN_ID, FIXED_URN, fixedClient, fixedOpendata, fixedServer, without } from '../helpers/reports.js';

/**
 * The rule table (src/report/rules.ts): every rule with its severity and source, and for each a passing and a failing
 * twin that show the severity at work — a discard refuses the report, a quality finding travels with it.
 */

const NOW = FIXED_NOW;
const catalog = loadCatalog();
const contextWith = (rules: Partial<RuleOptions> = {}, opendataOrgId: string | null = SERVER_ORG) =>
  reportRules(
    { organisations: [{ orgId: CLIENT_ORG }, { orgId: SERVER_ORG }], opendataOrgId, rules: { ...DEFAULTS.rules, ...rules } },
    catalog,
  ).validation(NOW);

const FAPI = FIXED_FAPI;
const URN = FIXED_URN;
const TOKEN_ID = FIXED_TOKEN_ID;
type Item = Record<string, unknown>;
const client = fixedClient;
const server = fixedServer;
const opendata = fixedOpendata;
const info = (additionalInfo: Item, over: Item = {}): Item => client({ additionalInfo, ...over });
const CONSENTS = { endpoint: '/open-banking/consents/v3/consents', httpMethod: 'POST', statusCode: 201 };
const PAY_CONSENTS = { endpoint: '/open-banking/payments/v5/consents', httpMethod: 'POST', statusCode: 201 };
const PAY_CONSENT = { consentId: URN, personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'HYBRID_FLOW', paymentType: 'IMMEDIATE', tokenId: TOKEN_ID };
const TOKEN = { endpoint: '/token', httpMethod: 'POST', endpointUriPrefix: 'https://auth.bank.com.br/as/token.oauth2' };
const RESOURCES = { endpoint: '/open-banking/resources/v3/resources' };
const paymentList = (n: number) => Array.from({ length: n }, (_, i) => ({ paymentId: `p${i}`, status: 'ACSC' }));
const PIX = { endpoint: '/open-banking/payments/v5/pix/payments', httpMethod: 'POST', statusCode: 201 };
const PIX_INFO = { consentId: URN, authorisationFlow: 'HYBRID_FLOW', paymentType: 'IMMEDIATE', status: 'RCVD', tokenId: TOKEN_ID };

/** Run through prepareReport (the whole path), or, for rules only the additionalInfo checker can reach, through it. */
type Twin =
  | { pass: unknown; fail: unknown; rules?: Partial<RuleOptions>; opendataOrgId?: string | null }
  | { additionalInfo: true; role: 'CLIENT' | 'SERVER'; pass: unknown; fail: unknown }
  | { size: true };

const TWINS: Record<RuleId, Twin> = {
  required: { pass: client(), fail: without(client(), 'httpMethod') },
  unrecognized_key: { pass: client(), fail: client({ fapiinteractionid: FAPI }) },
  not_null: { pass: client({ correlationId: 'j-1' }), fail: client({ correlationId: null }) },
  type: { pass: server({ statusCode: 408 }), fail: server({ statusCode: '408' }) },
  enum: { pass: server({ httpMethod: 'PATCH' }), fail: server({ httpMethod: 'HEAD' }) },
  range: { pass: server({ statusCode: 599 }), fail: server({ statusCode: 600 }) },
  format: { pass: server(), fail: server({ fapiInteractionId: 'abc-123' }) },
  listed_endpoint: { pass: server(), fail: server({ endpoint: '/open-banking/accounts/v1/accounts' }) },
  positive: { pass: server({ processTimespan: 1 }), fail: server({ processTimespan: 0 }) },
  integer: { pass: server({ processTimespan: 120 }), fail: server({ processTimespan: 120.5 }), rules: { processTimespan: 'integer' } },
  int16: { pass: server({ processTimespan: 32_767 }), fail: server({ processTimespan: 40_000 }), rules: { processTimespan: 'integer' } },
  max_age: { pass: server({ timestamp: '2026-11-15T12:00:01.000Z' }), fail: server({ timestamp: '2026-11-15T11:59:59.000Z' }) },
  max_future: { pass: server({ timestamp: '2026-11-22T12:05:00.000Z' }), fail: server({ timestamp: '2026-11-22T12:05:00.001Z' }) },
  nil_uuid: { pass: server(), fail: server({ fapiInteractionId: '00000000-0000-0000-0000-000000000000' }) },
  reporter_org: { pass: server(), fail: server({ serverOrgId: '2a01e202-e8f0-5f5a-9651-ebc257371e6e' }) },
  opendata_org: { pass: server(), fail: opendata(), opendataOrgId: null },
  too_large: { size: true },
  'endpointUriPrefix.shape': { pass: client(), fail: client({ endpointUriPrefix: 'api.bank.com.br open' }) },
  'additionalInfo.required': { additionalInfo: true, role: 'CLIENT', pass: { consentId: URN, tokenId: TOKEN_ID }, fail: undefined },
  'additionalInfo.type': { additionalInfo: true, role: 'CLIENT', pass: { consentId: URN, tokenId: TOKEN_ID }, fail: [] },
  'additionalInfo.notEmpty': { pass: info({ consentId: URN, tokenId: TOKEN_ID }), fail: info({}) },
  'additionalInfo.valueType': { pass: info({ consentId: URN, tokenId: TOKEN_ID }), fail: info({ consentId: 42, tokenId: TOKEN_ID }) },
  'additionalInfo.enum': { pass: info({ consentId: URN, personType: 'PJ', tokenId: TOKEN_ID, companyProfileInfo: { naturezaJuridica: '2062', porteEmpresa: '03' } }, CONSENTS), fail: info({ consentId: URN, personType: 'PESSOA_FISICA', tokenId: TOKEN_ID }, CONSENTS) },
  'additionalInfo.missingKey': { pass: info({ consentId: URN, tokenId: TOKEN_ID }), fail: info({ tokenId: TOKEN_ID }) },
  'additionalInfo.tokenId.missing': { pass: info({ consentId: URN, tokenId: TOKEN_ID }), fail: info({ consentId: URN }) },
  'additionalInfo.keyGroup': { pass: info({ ...PAY_CONSENT, paymentDate: '2026-12-01' }, PAY_CONSENTS), fail: info(PAY_CONSENT, PAY_CONSENTS) },
  'additionalInfo.forbiddenKey': { pass: info({ grantType: 'CLIENT_CREDENTIALS', tokenId: TOKEN_ID }, TOKEN), fail: info({ grantType: 'CLIENT_CREDENTIALS', consentId: URN, tokenId: TOKEN_ID }, TOKEN) },
  'additionalInfo.domain': { pass: info({ ...PAY_CONSENT, paymentDate: '2026-12-01' }, PAY_CONSENTS), fail: info({ ...PAY_CONSENT, paymentDate: '2026-12-01', localInstrument: 'PIX' }, PAY_CONSENTS) },
  'additionalInfo.format': { pass: info({ consentId: URN, tokenId: TOKEN_ID }), fail: info({ consentId: 'uri:bv:6096c7f6', tokenId: TOKEN_ID }) },
  'additionalInfo.unknownKey': { pass: server(), fail: server({ additionalInfo: { note: 'x' } }) },
  'additionalInfo.tokenId.opendata': { pass: opendata(), fail: opendata({ additionalInfo: { clientIp: '203.0.113.7', tokenId: TOKEN_ID } }) },
  'additionalInfo.errorCodes.single': {
    pass: info({ ...PAY_CONSENT, consentId: undefined, tokenId: undefined, errorCodes: ['X'] }, { ...PAY_CONSENTS, statusCode: 422 }),
    fail: info({ ...PAY_CONSENT, consentId: undefined, tokenId: undefined, errorCodes: ['X', 'Y'] }, { ...PAY_CONSENTS, statusCode: 422 }),
    rules: { errorCodesAs: 'array' },
  },
  'additionalInfo.paymentList.maxItems': { pass: info({ ...PIX_INFO, paymentList: paymentList(60) }, PIX), fail: info({ ...PIX_INFO, paymentList: paymentList(61) }, PIX) },
  'additionalInfo.statusSummary.count': { pass: info({ consentId: URN, tokenId: TOKEN_ID, statusSummary: { available: '1' } }, RESOURCES), fail: info({ consentId: URN, tokenId: TOKEN_ID, statusSummary: { available: 1 } }, RESOURCES) },
  'additionalInfo.dropReason.noCredential': {
    pass: server({ ...CONSENTS, statusCode: 422, additionalInfo: { dropReason: 'NO_CREDENTIAL' } }),
    fail: server({ ...CONSENTS, statusCode: 422, additionalInfo: { dropReason: 'NONE' } }),
  },
  'additionalInfo.dropReason.outsideCreation': { pass: server(), fail: server({ additionalInfo: { dropReason: 'NONE' } }) },
};

const rulesOf = (problems: readonly ReportProblem[]): string[] => problems.map((p) => p.rule);

function judge(result: ValidationResult): { refused: string[]; sent: boolean; findings: string[] } {
  return result.ok
    ? { refused: [], sent: true, findings: rulesOf(result.findings) }
    : { refused: rulesOf(result.problems), sent: false, findings: rulesOf(result.findings ?? []) };
}

describe('the rule table (src/report/rules.ts)', () => {
  it('gives every rule a severity and a source; unclear choices are quality', () => {
    for (const [id, rule] of Object.entries(RULES)) {
      expect(['discard', 'quality'], id).toContain(rule.severity);
      expect(rule.source, id).toMatch(/§\d|PCM-current/);
      if ('unclear' in rule) expect(rule.severity, `${id}: an unclear source is sent, not refused`).toBe('quality');
      if (!rule.overridable) expect(rule.severity, id).toBe('discard');
    }
    // The issue's own examples: a missing tokenId and a non-URN consentId are remarks, never refusals.
    expect(RULES['additionalInfo.tokenId.missing'].severity).toBe('quality');
    expect(RULES['additionalInfo.format'].severity).toBe('quality');
  });

  it('has a twin for every rule and no twin without a rule', () => {
    expect(Object.keys(TWINS).sort()).toEqual(Object.keys(RULES).sort());
  });

  it.each(Object.keys(RULES) as RuleId[])('%s: the passing twin is clean, the failing twin shows the rule at its severity', (id) => {
    const twin = TWINS[id];
    const severity = RULES[id].severity;
    if ('size' in twin) {
      const ok = prepareReport(server(), contextWith());
      const bytes = ok.ok ? Buffer.byteLength(ok.json) : 0;
      expect(withinSize(ok, bytes).ok).toBe(true);
      const refused = withinSize(ok, bytes - 1);
      expect(refused.ok).toBe(false);
      expect(refused.ok ? [] : rulesOf(refused.problems)).toEqual(['too_large']);
      return;
    }
    if ('additionalInfo' in twin) {
      const context = { role: twin.role, httpMethod: 'GET', endpoint: '/open-banking/accounts/v2/accounts/{accountId}/balances', statusCode: 200, stream: 'private' } as const;
      expect(rulesOf(additionalInfoProblems(twin.pass, context))).not.toContain(id);
      const problems = additionalInfoProblems(twin.fail, context);
      expect(rulesOf(problems)).toContain(id);
      expect(problems.every((p) => ruleInfo(p.rule).severity === severity)).toBe(true);
      return;
    }
    const context = contextWith(twin.rules, twin.opendataOrgId === undefined ? SERVER_ORG : twin.opendataOrgId);
    const pass = judge(prepareReport(twin.pass, context));
    expect(pass, 'passing twin').toEqual({ refused: [], sent: true, findings: [] });
    const fail = judge(prepareReport(twin.fail, context));
    if (severity === 'discard') {
      expect(fail.sent, JSON.stringify(fail)).toBe(false);
      expect(fail.refused).toContain(id);
    } else {
      expect(fail.sent, JSON.stringify(fail)).toBe(true);
      expect(fail.findings).toContain(id);
    }
  });
});

describe('policy: PCM_RULE_QUALITY and rules.overrides', () => {
  const remark = client({ additionalInfo: { consentId: 'uri:bv:6096c7f6' } }); // format + tokenId.missing

  it('send (default): the report goes, each finding labelled quality', () => {
    const result = prepareReport(remark, contextWith());
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.findings.map((f) => [f.rule, f.severity])).toEqual([
        ['additionalInfo.tokenId.missing', 'quality'],
        ['additionalInfo.format', 'quality'],
      ]);
    }
  });

  it('refuse: the same report is refused, with the same findings as reasons', () => {
    const result = prepareReport(remark, contextWith({ quality: 'refuse' }));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(rulesOf(result.problems)).toEqual(['additionalInfo.tokenId.missing', 'additionalInfo.format']);
  });

  it('per rule: ignore drops a finding, refuse blocks one, send lets a discard-level rule through', () => {
    const ignore = prepareReport(remark, contextWith({ overrides: { 'additionalInfo.tokenId.missing': 'ignore' } }));
    expect(ignore.ok && rulesOf(ignore.findings)).toEqual(['additionalInfo.format']);
    const refuse = prepareReport(remark, contextWith({ overrides: { 'additionalInfo.format': 'refuse' } }));
    expect(refuse.ok).toBe(false);
    if (!refuse.ok) {
      expect(rulesOf(refuse.problems)).toEqual(['additionalInfo.format']);
      expect(rulesOf(refuse.findings ?? [])).toEqual(['additionalInfo.tokenId.missing']);
    }
    // An endpoint the next catalogue will list, sent today on the operator's word.
    const unlisted = server({ endpoint: '/open-banking/accounts/v1/accounts' });
    expect(prepareReport(unlisted, contextWith()).ok).toBe(false);
    const sent = prepareReport(unlisted, contextWith({ overrides: { listed_endpoint: 'send' } }));
    expect(sent.ok && rulesOf(sent.findings)).toEqual(['listed_endpoint']);
  });

  it('a rule without which no report can be built cannot be sent or ignored', () => {
    expect(actionOf('unrecognized_key', { ...DEFAULT_POLICY, overrides: { unrecognized_key: 'send' } })).toBe('refuse');
    const env = {
      PCM_API_URL: 'https://api.pcm.example',
      PCM_AUTH_URL: 'https://auth.pcm.example',
      PCM_ORG_ID: CLIENT_ORG,
      PCM_CLIENT_ID: 'ss',
      PCM_CERT_FILE: '/c.pem',
      PCM_KEY_FILE: '/k.pem',
    };
    expect(() => loadConfig({ env: { ...env, PCM_RULE_QUALITY: 'maybe' } })).toThrow(/PCM_RULE_QUALITY/);
    expect(loadConfig({ env: { ...env, PCM_RULE_QUALITY: 'refuse' } }).rules.quality).toBe('refuse');
  });
});
