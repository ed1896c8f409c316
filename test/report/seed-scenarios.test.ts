import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import { prepareReport } from '../../src/report/validate.js';

/**
 * Seed 000 (Manual de Integração), "Exemplos de chamadas": six scenarios. The manual's JSON uses typographic
 * quotes, misses a comma after additionalInfo, predates today's endpoint list (v1 → v2) and the URN rule for
 * consentId, and uses "clientSSId" as a placeholder; these are the same reports with those fixed.
 */

const BV = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const CAIXA = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';
const BANRISUL = '2a01e202-e8f0-5f5a-9651-ebc257371e6e';
const GERENCIANET = 'b43131be-6a7f-5bfb-b436-c3ac5c5c2dac';
const FAPI = 'cd9a2e6b-0c33-403b-a8dd-544e95c63cd8';
const ENDPOINT = '/open-banking/unarranged-accounts-overdraft/v2/contracts/{contractId}/scheduled-instalments';
const NOW = Date.parse('2026-11-22T17:45:00.000Z');
const SS_ID = 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const TOKEN_ID = 'c9ng8aKzxNXm';

const context = reportRules(
  { organisations: [BV, CAIXA, BANRISUL, GERENCIANET].map((orgId) => ({ orgId })), opendataOrgId: null, rules: { ...DEFAULTS.rules } },
  loadCatalog(),
).validation(NOW);

function clientReport(bank: string, clientOrgId: string | undefined, serverOrgId: string | undefined, over: Record<string, unknown> = {}) {
  return {
    role: 'CLIENT',
    timestamp: '2026-11-22T17:43:13.622Z',
    fapiInteractionId: FAPI,
    endpoint: ENDPOINT,
    additionalInfo: { consentId: `urn:${bank}:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf`, tokenId: TOKEN_ID },
    statusCode: 200,
    httpMethod: 'GET',
    ...(clientOrgId ? { clientOrgId } : {}),
    ...(serverOrgId ? { serverOrgId } : {}),
    processTimespan: 120,
    clientSSId: SS_ID,
    endpointUriPrefix: 'https://openbanking.instituicao.com.br/namespace',
    ...over,
  };
}

function serverReport(clientOrgId: string, serverOrgId: string, statusCode: number) {
  return {
    role: 'SERVER',
    timestamp: '2026-11-22T17:44:42.812Z',
    fapiInteractionId: FAPI,
    endpoint: ENDPOINT,
    statusCode,
    httpMethod: 'GET',
    clientOrgId,
    serverOrgId,
    processTimespan: 90,
  };
}

const problemsOf = (item: unknown) => {
  const result = prepareReport(item, context);
  return result.ok ? [] : result.problems.map((p) => p.message);
};

describe("seed 000's six scenarios, checked before sending", () => {
  it('1 PAIRED: BV calls Caixa, both reports are accepted', () => {
    expect(problemsOf(clientReport('bv', BV, CAIXA))).toEqual([]);
    expect(problemsOf(serverReport(BV, CAIXA, 200))).toEqual([]);
  });

  it('2 PAIRED_INCONSISTENT: Caixa calls Banrisul, statuses differ — both are valid reports; the PCM judges the pair', () => {
    expect(problemsOf(clientReport('caixa', CAIXA, BANRISUL))).toEqual([]);
    expect(problemsOf(serverReport(CAIXA, BANRISUL, 201))).toEqual([]);
  });

  it('3 SINGLE: Banrisul reports a timeout to BV with 408', () => {
    expect(problemsOf(clientReport('banrisul', BANRISUL, BV, { statusCode: 408, additionalInfo: { consentId: 'urn:banrisul:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf' } }))).toEqual([]);
  });

  it('4 DISCARDED: Gerencianet without httpMethod is refused locally', () => {
    const report: Record<string, unknown> = clientReport('gerencianet', GERENCIANET, BV);
    delete report.httpMethod;
    expect(problemsOf(report)).toEqual(['Missing fields: httpMethod']);
  });

  it('5 DISCARDED: Caixa with an unlisted endpoint is refused locally', () => {
    expect(problemsOf(clientReport('caixa', CAIXA, BV, { endpoint: '/invalid_endpoint' }))).toContain('Unlisted endpoint: /invalid_endpoint');
  });

  it('6 DISCARDED: Banrisul without the org ids is refused locally', () => {
    expect(problemsOf(clientReport('banrisul', undefined, undefined, { endpoint: '/invalid_endpoint' }))).toEqual([
      'Missing fields: clientOrgId, serverOrgId',
    ]);
  });
});
