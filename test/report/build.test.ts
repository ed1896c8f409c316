import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { buildReport } from '../../src/report/build.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import { prepareReport } from '../../src/report/validate.js';
import { CLIENT_ORG, SERVER_ORG } from '../helpers/pki.js';

const SS_ID = 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const FAPI = 'c2f1b3a4-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const NOW = Date.parse('2026-11-22T12:00:00.000Z');
const single = reportRules({ organisations: [{ orgId: CLIENT_ORG, clientSSId: SS_ID }], opendataOrgId: null, rules: { ...DEFAULTS.rules } }, loadCatalog());
const both = reportRules(
  { organisations: [{ orgId: CLIENT_ORG, clientSSId: SS_ID }, { orgId: SERVER_ORG }], opendataOrgId: null, rules: { ...DEFAULTS.rules } },
  loadCatalog(),
);

describe('raw interactions → PCM reports', () => {
  it('builds a CLIENT report: template, prefix, org ids by role, configured clientSSId, UTC timestamp', () => {
    const built = buildReport(
      {
        role: 'client',
        method: 'get',
        url: 'https://api.other-bank.com.br/opbk/open-banking/accounts/v2/accounts/acc-1/transactions?fromBookingDate=2026-11-01',
        status: 200,
        startTime: '2026-11-22T08:59:58.5-03:00',
        durationMs: 231.6,
        fapiInteractionId: FAPI,
        counterpartyOrgId: SERVER_ORG,
        additionalInfo: { consentId: 'urn:bank:abc', tokenId: 'c9ng8aKzxNXm' },
      },
      single.build,
    );
    expect(built).toEqual({
      ok: true,
      item: {
        role: 'CLIENT',
        fapiInteractionId: FAPI,
        endpoint: '/open-banking/accounts/v2/accounts/{accountId}/transactions',
        statusCode: 200,
        httpMethod: 'GET',
        timestamp: '2026-11-22T11:59:58.500Z',
        processTimespan: 232,
        clientOrgId: CLIENT_ORG,
        serverOrgId: SERVER_ORG,
        clientSSId: SS_ID,
        endpointUriPrefix: 'https://api.other-bank.com.br/opbk',
        additionalInfo: { consentId: 'urn:bank:abc', tokenId: 'c9ng8aKzxNXm' },
      },
    });
    if (built.ok) expect(prepareReport(built.item, single.validation(NOW)).ok).toBe(true);
  });

  it('builds a SERVER report from a path, and reports a timeout as 408', () => {
    const built = buildReport(
      {
        role: 'SERVER',
        method: 'GET',
        url: '/open-banking/credit-cards-accounts/v2/accounts/77/limits',
        timedOut: true,
        status: 504,
        startTime: NOW - 20_000,
        durationMs: 15_000,
        fapiInteractionId: FAPI,
        counterpartyOrgId: CLIENT_ORG,
        orgId: SERVER_ORG,
      },
      both.build,
    );
    expect(built.ok && built.item).toMatchObject({
      role: 'SERVER',
      statusCode: 408,
      clientOrgId: CLIENT_ORG,
      serverOrgId: SERVER_ORG,
      endpoint: '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/limits',
      timestamp: new Date(NOW - 20_000).toISOString(),
    });
  });

  it('keeps an own "__proto__" key of additionalInfo as a key, as /v1/reports does, for the rules to judge', () => {
    const raw: unknown = JSON.parse(
      `{"role":"SERVER","method":"GET","url":"/open-banking/accounts/v2/accounts","status":200,"startTime":${NOW - 1000},"durationMs":5,` +
        `"fapiInteractionId":"${FAPI}","counterpartyOrgId":"${SERVER_ORG}","orgId":"${CLIENT_ORG}","additionalInfo":{"__proto__":{"x":1},"consentId":"urn:bank:abc"}}`,
    );
    const built = buildReport(raw, single.build);
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    const info = built.item.additionalInfo as Record<string, unknown>;
    expect(Object.hasOwn(info, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(info)).toBe(Object.prototype);
  });

  it.each([
    ['several organisations and no orgId', { orgId: undefined }, both, 'orgId', /several organisations/],
    ['an unknown orgId', { orgId: '2a01e202-e8f0-5f5a-9651-ebc257371e6e' }, both, 'orgId', /not an organisation/],
    ['an unlisted URL', { url: 'https://x.com.br/open-banking/accounts/v1/accounts' }, single, 'url', /^Unlisted endpoint/],
    ['a start time without offset', { startTime: '2026-11-22T11:00:00' }, single, 'startTime', /ISO-8601 with an offset/],
    ['no status and no timeout', { status: undefined }, single, 'status', 'Missing fields: status'],
    ['an unknown key', { latency: 3 }, single, '', /Invalid interaction/],
  ])('refuses %s', (_name, change, rules, field, message) => {
    const base = {
      role: 'CLIENT',
      method: 'GET',
      url: 'https://x.com.br/open-banking/accounts/v2/accounts',
      status: 200,
      startTime: NOW,
      durationMs: 10,
      fapiInteractionId: FAPI,
      counterpartyOrgId: SERVER_ORG,
    };
    const built = buildReport({ ...base, ...change }, rules.build);
    expect(built.ok).toBe(false);
    if (built.ok) return;
    expect(built.problems[0]!.field).toBe(field);
    if (typeof message === 'string') expect(built.problems[0]!.message).toBe(message);
    else expect(built.problems[0]!.message).toMatch(message);
  });
});
