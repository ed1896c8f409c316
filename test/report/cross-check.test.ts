import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { discardReason, loadAcceptedEndpoints, opendataDiscardReason } from '../../src/emulator/validate.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import { concreteExample } from '../../src/report/template.js';
import { prepareReport } from '../../src/report/validate.js';
import { mulberry32 } from '../../src/random.js';
import { CLIENT_ORG, SERVER_ORG } from '../helpers/pki.js';

/**
 * The sidecar's validation (src/report/) against the emulator's, written apart (src/emulator/validate.ts), over a
 * generated corpus, both ways: whatever the sidecar lets through, the emulator must accept — no avoidable DISCARDED —
 * and whatever the emulator would accept, the sidecar must send (PCM_RULE_QUALITY=send) — no report lost to a
 * quality remark. The corpus is aimed at the boundary between the two severities (§8.3): enum domains, value types,
 * empty additionalInfo, URNs, tokenIds, prototype-named keys.
 */

const CORPUS = 12_000;
const NOW = Date.parse('2026-11-22T12:00:00.000Z');
const DAY = 24 * 60 * 60 * 1000;
const catalog = loadCatalog();
const context = reportRules(
  { organisations: [{ orgId: CLIENT_ORG }, { orgId: SERVER_ORG }], opendataOrgId: SERVER_ORG, rules: { ...DEFAULTS.rules } },
  catalog,
).validation(NOW);
const endpoints = loadAcceptedEndpoints();


/** `canonical`: the shapes the PCM reads as they are (no repairs needed), so the emulator's verdict is about rules. */
function generate(rand: () => number, i: number, canonical = false): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const uuid = (): string =>
    'xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx'.replace(/x/g, () => Math.floor(rand() * 16).toString(16));
  const at = NOW - Math.floor(rand() * 8 * DAY) + (rand() < 0.05 ? 10 * 60_000 : 0);
  const timestamp = canonical
    ? pick<unknown>([new Date(at).toISOString(), new Date(at).toISOString(), '2026-11-31T10:00:00.000Z'])
    : pick<unknown>([new Date(at).toISOString(), new Date(at).toISOString(), at, at * 1000, new Date(at).toISOString().replace('Z', '+00:00'), '2026-11-22 10:00']);
  const status = pick([200, 200, 200, 201, 204, 400, 401, 403, 404, 408, 422, 429, 500, 503, 600]);
  const method = pick(canonical ? ['GET', 'GET', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] : ['GET', 'GET', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'get', 'HEAD']);
  const span = pick([0, 1, 35, 120, 999.5, 15_000, -3]);

  if (rand() < 0.15) {
    const template = pick(catalog.opendata).template;
    return {
      endpoint: rand() < 0.7 ? template : pick([`${template}/`, '/open-banking/channels/v1/branches']),
      statusCode: status,
      httpMethod: method,
      timestamp,
      processTimespan: span,
      additionalInfo: rand() < 0.9 ? { clientIp: pick(['203.0.113.7', '2001:db8::1', 'not-an-ip']) } : {},
    };
  }
  const template = pick(catalog.private).template;
  const endpoint = canonical
    ? pick([template, template, template, '/open-banking/accounts/v1/accounts'])
    : pick([template, template, concreteExample(template, i), `https://api.bank.com.br/opbk${concreteExample(template, i)}`, '/open-banking/accounts/v1/accounts']);
  const role = pick(canonical ? ['CLIENT', 'SERVER'] : ['CLIENT', 'SERVER', 'client']);
  const base: Record<string, unknown> = {
    role,
    fapiInteractionId: rand() < 0.02 ? '00000000-0000-0000-0000-000000000000' : uuid(),
    endpoint,
    statusCode: status,
    httpMethod: method,
    timestamp,
    processTimespan: span,
    clientOrgId: rand() < 0.97 ? CLIENT_ORG : '2a01e202-e8f0-5f5a-9651-ebc257371e6e',
    serverOrgId: SERVER_ORG,
  };
  if (role.toUpperCase() === 'CLIENT') {
    base.clientSSId = uuid();
    base.endpointUriPrefix = pick(['https://api.bank.com.br/opbk', 'https://api.bank.com.br', 'https://api.bank.com.br/x~y']);
    const info: Record<string, unknown> = {};
    if (rand() < 0.9) info.consentId = pick<unknown>([`urn:bank:${uuid()}`, `uri:bank:${uuid()}`, `urn:bank:${uuid()}`, 7]);
    if (rand() < 0.85) info.tokenId = pick(['c9ng8aKzxNXm', 'short']);
    if (template === '/token') info.grantType = pick(['CLIENT_CREDENTIALS', 'AUTHORIZATION_CODE', 'client_credentials']);
    if (template.startsWith('/register')) info.webhookEnable = pick(['TRUE', 'FALSE', true]);
    if (status >= 400 && rand() < 0.7) info.errorCodes = pick(['NAO_INFORMADO', ['NAO_INFORMADO']]);
    // The keys whose domain the discard catalogue names, and their neighbours at quality level.
    if (rand() < 0.2) info.personType = pick(['PF', 'PJ', 'PESSOA_NATURAL', 'pf']);
    if (rand() < 0.15) info.paymentType = pick(['IMMEDIATE', 'AUTOMATIC', 'WITHDRAW', 'SCHEDULE']);
    if (rand() < 0.1) info.cancelledFrom = pick(['INICIADORA', 'REJECTED', 'USUARIO']);
    if (rand() < 0.1) info.localInstrument = pick(['DICT', 'APDN', 'PIX']);
    if (rand() < 0.1) info.status = pick(['AUTHORISED', 'authorised', 'RJCT']);
    if (rand() < 0.08) info.companyProfileInfo = pick<unknown>([{ naturezaJuridica: '2062', porteEmpresa: '03' }, { naturezaJuridica: 2062 }, { porteEmpresa: '99' }, '2062']);
    if (rand() < 0.05) info.paymentList = pick<unknown>([[{ paymentId: 'p1', status: 'ACSC' }], [{ paymentId: 1 }], ['p1'], {}]);
    if (rand() < 0.05) info.statusSummary = pick<unknown>([{ available: '1' }, { available: 1 }, []]);
    if (rand() < 0.03) info[pick(['constructor', 'toString', 'isPrototypeOf', 'hasOwnProperty'])] = pick<unknown>(['x', 1]);
    if (rand() < 0.03) info.journeyIsLinked = pick<unknown>(['TRUE', true, 'yes']);
    base.additionalInfo = rand() < 0.08 ? pick<unknown>([{}, {}, [], 'x']) : info;
    if (rand() < 0.1) base.correlationId = pick(['journey-1', 'x'.repeat(101)]);
  } else if (rand() < 0.25) {
    base.additionalInfo = pick<unknown>([
      { dropReason: pick(['NONE', 'NO_CREDENTIAL', 'NO_AUTHORITY', 'CREDENTIAL_UNAVAILABLE', 'MAYBE']) },
      {},
      { dropReason: 1 },
      { note: 'x' },
      { toString: 'x' },
    ]);
  }
  // Consent-creation POSTs, where dropReason, companyProfileInfo and paymentDate matter.
  if (rand() < 0.08) {
    base.endpoint = pick(['/open-banking/consents/v3/consents', '/open-banking/payments/v5/consents', '/open-banking/enrollments/v2/enrollments']);
    base.httpMethod = 'POST';
  }
  const mutation = rand();
  if (mutation < 0.04) delete base[pick(Object.keys(base))];
  else if (mutation < 0.06) base.extraField = 'x';
  else if (mutation < 0.08) base[pick(Object.keys(base))] = null;
  return base;
}

describe('cross-check: sidecar validation vs the emulator’s independent validation', () => {
  it(`over ${CORPUS} generated reports, everything the sidecar accepts the emulator accepts`, () => {
    const rand = mulberry32(20261122);
    let accepted = 0;
    const disagreements: string[] = [];
    for (let i = 0; i < CORPUS; i++) {
      const item = generate(rand, i);
      const result = prepareReport(item, context);
      if (!result.ok) continue;
      accepted++;
      const sent = JSON.parse(result.json) as unknown;
      const check = result.stream === 'private' ? discardReason : opendataDiscardReason;
      const message = check(sent, { now: NOW, endpoints });
      if (message !== null && disagreements.length < 10) disagreements.push(`${message} ← ${result.json}`);
    }
    expect(disagreements).toEqual([]);
    // The corpus must exercise both sides: a healthy share passes, and plenty is refused.
    expect(accepted).toBeGreaterThan(CORPUS * 0.1);
    expect(accepted).toBeLessThan(CORPUS * 0.9);
  });

  it(`over ${CORPUS} generated reports, everything the emulator accepts the sidecar sends`, () => {
    const rand = mulberry32(20261201);
    let emulatorAccepts = 0;
    let withFindings = 0;
    const refusedByUs: string[] = [];
    for (let i = 0; i < CORPUS; i++) {
      const item = generate(rand, i, true);
      const check = item.role === undefined ? opendataDiscardReason : discardReason;
      if (check(item, { now: NOW, endpoints }) !== null) continue;
      emulatorAccepts++;
      const result = prepareReport(item, context);
      if (result.ok) {
        if (result.findings.length > 0) withFindings++;
        continue;
      }
      // The emulator checks the reporter against the token of the request, not per item: that one is the sidecar's.
      const problems = result.problems.filter((p) => p.rule !== 'reporter_org');
      if (problems.length > 0 && refusedByUs.length < 10) refusedByUs.push(`${problems.map((p) => `${p.rule}: ${p.message}`).join('; ')} ← ${JSON.stringify(item)}`);
    }
    expect(refusedByUs).toEqual([]);
    expect(emulatorAccepts).toBeGreaterThan(CORPUS * 0.1);
    // Quality findings are frequent in the corpus: they are what this direction is about.
    expect(withFindings).toBeGreaterThan(emulatorAccepts * 0.2);
  });
});
