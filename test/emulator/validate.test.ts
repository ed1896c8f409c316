import { describe, expect, it } from 'vitest';
import {
  QUALITY_RULES,
  checkOpendataReport,
  checkReport,
  loadAcceptedEndpoints,
  type CheckContext,
  type CheckResult,
  type ErrorCodesAs,
} from '../../src/emulator/validate.js';

/**
 * src/emulator/validate.ts on its own, with a fixed clock: the exact discard set (every check with a failing and a passing
 * twin, the `{}` table over the whole catalogue), what is only quality, and prototype safety. The same causes go
 * through the HTTP emulator in conformance.test.ts and quality.test.ts.
 */

type Item = Record<string, unknown>;

const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const AT = '2026-12-01T11:59:00.000Z';
const endpoints = loadAcceptedEndpoints();
const context = (over: Partial<CheckContext> = {}): CheckContext => ({ now: NOW, endpoints, ...over });
const CLIENT_ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const SERVER_ORG = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';
const NIL = '00000000-0000-0000-0000-000000000000';
const URN = 'urn:bank:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf';
const TOKEN_ID = 'c9ng8aKzxNXm';
const NOT_EMPTY = 'additionalInfo should not be empty';
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

function clientItem(over: Item = {}): Item {
  return {
    role: 'CLIENT',
    fapiInteractionId: 'd78fc4e5-37ca-4da3-adf2-9b082bf92280',
    endpoint: '/open-banking/accounts/v2/accounts',
    statusCode: 200,
    httpMethod: 'GET',
    additionalInfo: { consentId: URN, tokenId: TOKEN_ID },
    timestamp: AT,
    processTimespan: 120,
    clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    clientOrgId: CLIENT_ORG,
    serverOrgId: SERVER_ORG,
    endpointUriPrefix: 'https://openbanking.instituicao.com.br/opbk',
    ...over,
  };
}

function serverItem(over: Item = {}): Item {
  return {
    role: 'SERVER',
    fapiInteractionId: 'd78fc4e5-37ca-4da3-adf2-9b082bf92280',
    endpoint: '/open-banking/accounts/v2/accounts',
    statusCode: 200,
    httpMethod: 'GET',
    timestamp: AT,
    processTimespan: 90,
    clientOrgId: CLIENT_ORG,
    serverOrgId: SERVER_ORG,
    ...over,
  };
}

function opendataItem(over: Item = {}): Item {
  return {
    endpoint: '/open-banking/channels/v2/branches',
    statusCode: 200,
    httpMethod: 'GET',
    timestamp: AT,
    processTimespan: 120,
    additionalInfo: { clientIp: '203.0.113.7' },
    ...over,
  };
}

const without = (item: Item, key: string): Item => Object.fromEntries(Object.entries(item).filter(([k]) => k !== key));
const discard = (item: unknown, over: Partial<CheckContext> = {}): string | null => checkReport(item, context(over)).discard;
const opendataDiscard = (item: unknown, over: Partial<CheckContext> = {}): string | null => checkOpendataReport(item, context(over)).discard;

// ─────────────────────────────────────────── the exact `{}` table ───────────────────────────────────────────

const OB = '/open-banking';
const contracts = (api: string): string[] =>
  ['', '/{contractId}', '/{contractId}/payments', '/{contractId}/scheduled-instalments', '/{contractId}/warranties'].map((s) => `${OB}/${api}/v2/contracts${s}`);
const investments = (api: string): string[] =>
  ['', '/{investmentId}', '/{investmentId}/balances', '/{investmentId}/transactions', '/{investmentId}/transactions-current'].map(
    (s) => `${OB}/${api}/v1/investments${s}`,
  );

/** The CLIENT (method, endpoint) pairs where `additionalInfo: {}` is a discard, written out from pcm-rules.md §4.3. */
const NON_EMPTY: Record<(typeof METHODS)[number], string[]> = {
  GET: [
    `${OB}/accounts/v2/accounts`,
    `${OB}/accounts/v2/accounts/{accountId}`,
    `${OB}/accounts/v2/accounts/{accountId}/balances`,
    `${OB}/accounts/v2/accounts/{accountId}/transactions`,
    `${OB}/accounts/v2/accounts/{accountId}/transactions-current`,
    `${OB}/accounts/v2/accounts/{accountId}/overdraft-limits`,
    `${OB}/credit-cards-accounts/v2/accounts`,
    `${OB}/credit-cards-accounts/v2/accounts/{creditCardAccountId}`,
    `${OB}/credit-cards-accounts/v2/accounts/{creditCardAccountId}/limits`,
    `${OB}/credit-cards-accounts/v2/accounts/{creditCardAccountId}/transactions`,
    `${OB}/credit-cards-accounts/v2/accounts/{creditCardAccountId}/transactions-current`,
    `${OB}/credit-cards-accounts/v2/accounts/{creditCardAccountId}/bills`,
    `${OB}/credit-cards-accounts/v2/accounts/{creditCardAccountId}/bills/{billId}/transactions`,
    `${OB}/customers/v2/personal/identifications`,
    `${OB}/customers/v2/personal/qualifications`,
    `${OB}/customers/v2/personal/financial-relations`,
    `${OB}/customers/v2/business/identifications`,
    `${OB}/customers/v2/business/qualifications`,
    `${OB}/customers/v2/business/financial-relations`,
    ...['loans', 'financings', 'invoice-financings', 'unarranged-accounts-overdraft'].flatMap(contracts),
    ...['funds', 'bank-fixed-incomes', 'credit-fixed-incomes', 'variable-incomes', 'treasure-titles'].flatMap(investments),
    `${OB}/variable-incomes/v1/broker-notes/{brokerNoteId}`,
    `${OB}/exchanges/v1/operations`,
    `${OB}/exchanges/v1/operations/{operationId}`,
    `${OB}/exchanges/v1/operations/{operationId}/events`,
    `${OB}/resources/v3/resources`,
    `${OB}/consents/v3/consents/{consentId}`,
    `${OB}/consents/v3/consents/{consentId}/extensions`,
    `${OB}/payments/v4/consents/{consentId}`,
    `${OB}/payments/v4/pix/payments/{paymentId}`,
    `${OB}/payments/v5/consents/{consentId}`,
    `${OB}/payments/v5/pix/payments/{paymentId}`,
    `${OB}/enrollments/v2/enrollments/{enrollmentId}`,
    `${OB}/automatic-payments/v2/recurring-consents/{recurringConsentId}`,
    `${OB}/automatic-payments/v2/pix/recurring-payments`,
    `${OB}/automatic-payments/v2/pix/recurring-payments/{recurringPaymentId}`,
  ],
  POST: [
    `${OB}/consents/v3/consents`,
    `${OB}/consents/v3/consents/{consentId}/extends`,
    `${OB}/payments/v4/consents`,
    `${OB}/payments/v4/pix/payments`,
    `${OB}/payments/v5/consents`,
    `${OB}/payments/v5/pix/payments`,
    `${OB}/enrollments/v2/enrollments`,
    `${OB}/enrollments/v2/enrollments/{enrollmentId}/risk-signals`,
    `${OB}/enrollments/v2/enrollments/{enrollmentId}/fido-registration-options`,
    `${OB}/enrollments/v2/enrollments/{enrollmentId}/fido-registration`,
    `${OB}/enrollments/v2/enrollments/{enrollmentId}/fido-sign-options`,
    `${OB}/enrollments/v2/consents/{consentId}/authorise`,
    `${OB}/enrollments/v2/recurring-consents/{recurringConsentId}/authorise`,
    `${OB}/automatic-payments/v2/recurring-consents`,
    `${OB}/automatic-payments/v2/pix/recurring-payments`,
    `${OB}/automatic-payments/v2/pix/recurring-payments/{originalRecurringPaymentId}/retry`,
    '/token',
    '/register',
  ],
  PUT: ['/register', '/register/{clientId}'],
  PATCH: [
    `${OB}/payments/v4/pix/payments/{paymentId}`,
    `${OB}/payments/v5/pix/payments/{paymentId}`,
    `${OB}/enrollments/v2/enrollments/{enrollmentId}`,
    `${OB}/automatic-payments/v2/recurring-consents/{recurringConsentId}`,
    `${OB}/automatic-payments/v2/pix/recurring-payments/{recurringPaymentId}`,
  ],
  DELETE: [`${OB}/consents/v3/consents/{consentId}`],
};

const CONSENT_CREATION = [
  `${OB}/consents/v3/consents`,
  `${OB}/payments/v4/consents`,
  `${OB}/payments/v5/consents`,
  `${OB}/enrollments/v2/enrollments`,
  `${OB}/automatic-payments/v2/recurring-consents`,
];

describe('"additionalInfo should not be empty": exactly the pairs of §4.3, over the whole catalogue and every method', () => {
  const pairs = new Set(METHODS.flatMap((m) => NON_EMPTY[m].map((e) => `${m} ${e}`)));

  it('the expected table itself: 105 distinct pairs, every endpoint on the accepted list', () => {
    expect(pairs.size).toBe(105);
    expect(NON_EMPTY.GET).toHaveLength(79);
    for (const method of METHODS) for (const e of NON_EMPTY[method]) expect(endpoints.private.has(e), e).toBe(true);
  });

  it('CLIENT: {} is DISCARDED on those pairs and ACCEPTED on every other (method, endpoint); one key always suffices', () => {
    const wrong: string[] = [];
    for (const endpoint of endpoints.private) {
      for (const method of METHODS) {
        const expected = pairs.has(`${method} ${endpoint}`) ? NOT_EMPTY : null;
        const empty = discard(clientItem({ endpoint, httpMethod: method, additionalInfo: {} }));
        if (empty !== expected) wrong.push(`${method} ${endpoint}: ${empty}`);
        const oneKey = discard(clientItem({ endpoint, httpMethod: method, additionalInfo: { anything: 'x' } }));
        if (oneKey !== null) wrong.push(`${method} ${endpoint} with one key: ${oneKey}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(endpoints.private.size * METHODS.length - pairs.size).toBeGreaterThan(300); // plenty of accepted {} too
  });

  it('SERVER: {} is DISCARDED on a POST to the five consent-creation endpoints only; absent additionalInfo never', () => {
    const wrong: string[] = [];
    for (const endpoint of endpoints.private) {
      for (const method of METHODS) {
        const expected = method === 'POST' && CONSENT_CREATION.includes(endpoint) ? NOT_EMPTY : null;
        const empty = discard(serverItem({ endpoint, httpMethod: method, additionalInfo: {} }));
        if (empty !== expected) wrong.push(`${method} ${endpoint}: ${empty}`);
        const absent = discard(serverItem({ endpoint, httpMethod: method }));
        if (absent !== null) wrong.push(`${method} ${endpoint} without additionalInfo: ${absent}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('a key whose value is undefined is not sent, so it does not make additionalInfo non-empty', () => {
    expect(discard(clientItem({ additionalInfo: { consentId: undefined } }))).toBe(NOT_EMPTY);
  });
});

// ─────────────────────────────────────────── the rest of the discard list ───────────────────────────────────────────

const CLIENT_REQUIRED = [
  'fapiInteractionId', 'endpoint', 'statusCode', 'httpMethod', 'additionalInfo', 'timestamp', 'processTimespan',
  'clientSSId', 'clientOrgId', 'serverOrgId', 'endpointUriPrefix', 'role',
];
const SERVER_REQUIRED = ['fapiInteractionId', 'endpoint', 'statusCode', 'httpMethod', 'timestamp', 'processTimespan', 'clientOrgId', 'serverOrgId', 'role'];

describe('discard checks 1–3: the item, role, required keys, nulls and unknown keys', () => {
  it('the base items are ACCEPTED', () => {
    expect(discard(clientItem())).toBeNull();
    expect(discard(serverItem())).toBeNull();
    expect(opendataDiscard(opendataItem())).toBeNull();
  });

  it.each([null, 'report', 42, true, [], [clientItem()]])('an item that is not an object (%j)', (item) => {
    expect(discard(item)).toBe('Invalid payload format: item must be an object');
    expect(opendataDiscard(item)).toBe('Invalid payload format: item must be an object');
  });

  it.each(['client', 'Client', 'BOTH', '', 1])('role %j is outside the enum', (role) => {
    expect(discard(clientItem({ role }))).toBe(`Invalid enum value. Expected 'SERVER' | 'CLIENT', received '${String(role)}'`);
  });

  it.each([
    ['CLIENT', CLIENT_REQUIRED, clientItem],
    ['SERVER', SERVER_REQUIRED, serverItem],
  ] as const)('%s: each required key, missing or null, is named', (_role, required, make) => {
    for (const key of required) {
      expect(discard(without(make(), key)), key).toBe(`Missing fields: ${key}`);
      expect(discard(make({ [key]: null })), key).toBe(`Missing fields: ${key}`);
    }
  });

  it('null in an optional key is a discard too; the key absent is fine', () => {
    expect(discard(serverItem({ additionalInfo: null }))).toBe('Invalid type: additionalInfo: Expected object, received null');
    expect(discard(serverItem({ correlationId: null }))).toBe('Invalid correlationId format');
    expect(discard(clientItem({ correlationId: null }))).toBe('Invalid correlationId format');
    expect(discard(serverItem({ additionalInfo: { dropReason: 'NONE' }, correlationId: 'journey-1' }))).toBeNull();
    expect(discard(clientItem({ correlationId: 'journey-1' }))).toBeNull();
  });

  it('unknown top-level keys: CLIENT may add correlationId, SERVER additionalInfo and correlationId, nothing else', () => {
    expect(discard(clientItem({ dropReason: 'NONE' }))).toBe("Invalid format: : Unrecognized key(s) in object: 'dropReason'");
    expect(discard(serverItem({ clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d', endpointUriPrefix: 'https://x' }))).toBe(
      "Invalid format: : Unrecognized key(s) in object: 'clientSSId', 'endpointUriPrefix'",
    );
    expect(discard(serverItem({ extra: null }))).toBe("Invalid format: : Unrecognized key(s) in object: 'extra'");
    expect(discard(clientItem({ extra: undefined }))).toBeNull(); // not sent
  });

  it('opendata: exactly the six keys, none null, nothing else', () => {
    for (const key of ['endpoint', 'statusCode', 'httpMethod', 'timestamp', 'processTimespan', 'additionalInfo']) {
      expect(opendataDiscard(without(opendataItem(), key)), key).toBe(`Missing fields: '${key}'`);
      expect(opendataDiscard(opendataItem({ [key]: null })), key).toBe(`Missing fields: '${key}'`);
    }
    expect(opendataDiscard(opendataItem({ role: 'SERVER' }))).toBe("Invalid format: : Unrecognized key(s) in object: 'role'");
  });
});

describe('discard checks 4–8: ids, endpoint, method, numbers, timestamp, prefix and correlationId', () => {
  it('UUID keys: canonical pattern, either case; the nil UUID is refused with its own message', () => {
    const nil: [string, string, () => Item][] = [
      ['fapiInteractionId', `fapiInteractionId mismatch. Ensure the ID is not "${NIL}."`, clientItem],
      ['fapiInteractionId', `fapiInteractionId mismatch. Ensure the ID is not "${NIL}."`, serverItem],
      ['clientOrgId', 'invalid value: Client organization ID not in directory', clientItem],
      ['clientOrgId', 'invalid value: Client organization ID not in directory', serverItem],
      ['serverOrgId', 'invalid value: Server organization ID not in directory', clientItem],
      ['serverOrgId', 'invalid value: Server organization ID not in directory', serverItem],
      ['clientSSId', 'Invalid value: Client SSID not found in combined org IDs', clientItem],
    ];
    for (const [key, message, make] of nil) {
      expect(discard({ ...make(), [key]: NIL }), key).toBe(message);
      expect(discard({ ...make(), [key]: '00000000-0000-0000-0000-000000000001' }), key).toBeNull();
      expect(discard({ ...make(), [key]: 'D78FC4E5-37CA-4DA3-ADF2-9B082BF92280' }), key).toBeNull();
      for (const bad of ['d78fc4e5-37ca-4da3-adf2-9b082bf9228', 'd78fc4e537ca4da3adf29b082bf92280', 42, {}]) {
        expect(discard({ ...make(), [key]: bad }), `${key} ${String(bad)}`).toBe(`Invalid format: ${key}: Invalid uuid`);
      }
    }
  });

  it('endpoint on the accepted list of its stream; httpMethod exactly one of the five', () => {
    expect(discard(clientItem({ endpoint: '/open-banking/channels/v2/branches' }))).toBe('Unlisted endpoint: /open-banking/channels/v2/branches');
    expect(opendataDiscard(opendataItem({ endpoint: '/open-banking/accounts/v2/accounts' }))).toBe('Unlisted endpoint: /open-banking/accounts/v2/accounts');
    expect(discard(clientItem({ endpoint: ['/token'] }))).toBe('Unlisted endpoint: ["/token"]');
    for (const method of METHODS) {
      expect(discard(clientItem({ httpMethod: method, endpoint: '/open-banking/discovery/v2/status', additionalInfo: {} }))).toBeNull();
      expect(opendataDiscard(opendataItem({ httpMethod: method }))).toBeNull();
    }
    for (const method of ['get', 'HEAD', 'OPTIONS', ' GET', 1]) {
      const message = `Invalid enum value. Expected 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', received '${String(method)}'`;
      expect(discard(clientItem({ httpMethod: method }))).toBe(message);
      expect(opendataDiscard(opendataItem({ httpMethod: method }))).toBe(message);
    }
  });

  it('statusCode an integer 200–599; processTimespan a number > 0 (fractions fine)', () => {
    for (const code of [200, 201, 408, 599]) expect(discard(serverItem({ statusCode: code }))).toBeNull();
    for (const code of [199, 600, 200.5, -1]) {
      expect(discard(serverItem({ statusCode: code }))).toBe('Invalid field value: statusCode must be between 200 and 599');
      expect(opendataDiscard(opendataItem({ statusCode: code }))).toBe('Invalid field value: statusCode must be between 200 and 599');
    }
    expect(discard(serverItem({ statusCode: '200' }))).toBe('Field type mismatch: statusCode: Expected number, received string');
    for (const span of [0.001, 1, 32_768, 120.000001]) expect(discard(serverItem({ processTimespan: span }))).toBeNull();
    for (const span of [0, -0.5, -3]) {
      expect(discard(serverItem({ processTimespan: span }))).toBe('Invalid field value: processTimespan must be greater than zero');
      expect(opendataDiscard(opendataItem({ processTimespan: span }))).toBe('Invalid field value: processTimespan must be greater than zero');
    }
    expect(discard(serverItem({ processTimespan: true }))).toBe('Field type mismatch: processTimespan: Expected number, received boolean');
  });

  it('timestamp: the format, a real calendar instant (31 November was ACCEPTED before), the 7-day and 5-minute edges', () => {
    const cases: [string, string | null, number?][] = [
      ['2026-11-31T10:00:00.000Z', 'Invalid field value: Invalid date'], // Date.parse rolls it to 1 December
      ['2026-11-30T10:00:00.000Z', null],
      ['2026-12-01T24:00:00.000Z', 'Invalid field value: Invalid date'],
      ['2026-11-30T24:00:00.000Z', 'Invalid field value: Invalid date'],
      ['2026-12-00T10:00:00.000Z', 'Invalid field value: Invalid date'],
      ['2026-13-01T10:00:00.000Z', 'Invalid field value: Invalid date'],
      ['2026-02-29T10:00:00.000Z', 'Invalid field value: Invalid date', Date.parse('2026-03-01T12:00:00.000Z')],
      ['2028-02-29T10:00:00.000Z', null, Date.parse('2028-03-01T12:00:00.000Z')],
      ['2026-12-01T11:59:00Z', 'Invalid field value: Invalid timestamp format'],
      ['2026-12-01T11:59:00.000+00:00', 'Invalid field value: Invalid timestamp format'],
      ['2026-12-01 11:59:00.000Z', 'Invalid field value: Invalid timestamp format'],
      ['2026-11-24T12:00:00.000Z', null], // exactly 7 days
      ['2026-11-24T11:59:59.999Z', 'Report is too old'],
      ['2026-12-01T12:05:00.000Z', null], // exactly 5 minutes ahead
      ['2026-12-01T12:05:00.001Z', 'Invalid field value: timestamp is more than 5 minutes in the future'],
    ];
    for (const [timestamp, expected, now] of cases) {
      const over = now === undefined ? {} : { now };
      expect(discard(clientItem({ timestamp }), over), timestamp).toBe(expected);
      expect(opendataDiscard(opendataItem({ timestamp }), over), timestamp).toBe(expected);
    }
    expect(discard(clientItem({ timestamp: NOW }))).toBe('Invalid field value: Invalid timestamp format');
  });

  it('CLIENT endpointUriPrefix: non-empty, ≤ 200, safe characters; correlationId ≤ 100, safe characters', () => {
    const prefix = (endpointUriPrefix: unknown): string | null => discard(clientItem({ endpointUriPrefix }));
    expect(prefix('h')).toBeNull();
    expect(prefix('a'.repeat(200))).toBeNull();
    expect(prefix("https://x.example.com/a-b_c.d:e,f'g h")).toBeNull();
    for (const bad of ['', 'a'.repeat(201), 'https://x.example.com/?a=1', 'https://x.example.com/~u', 'https://x@y', 200]) {
      expect(prefix(bad), String(bad)).toBe('Invalid field value: endpointUriPrefix');
    }
    const correlation = (correlationId: unknown): string | null => discard(clientItem({ correlationId }));
    expect(correlation('')).toBeNull();
    expect(correlation('x'.repeat(100))).toBeNull();
    for (const bad of ['x'.repeat(101), 'a?b', 'ação', 7]) expect(correlation(bad), String(bad)).toBe('Invalid correlationId format');
  });
});

describe('discard checks 9–12: additionalInfo shape, leaf types, errorCodes, enumerations', () => {
  it('additionalInfo must be an object (CLIENT, SERVER, opendata)', () => {
    for (const info of ['x', 1, true, [], [{ consentId: URN }]]) {
      const message = `Invalid type: additionalInfo: Expected object, received ${Array.isArray(info) ? 'array' : typeof info}`;
      expect(discard(clientItem({ additionalInfo: info }))).toBe(message);
      expect(discard(serverItem({ additionalInfo: info }))).toBe(message);
      expect(opendataDiscard(opendataItem({ additionalInfo: info }))).toBe(message);
    }
  });

  it('leaf values are strings, but for companyProfileInfo, statusSummary and paymentList', () => {
    const info = (extra: Item): Item => clientItem({ additionalInfo: { consentId: URN, tokenId: TOKEN_ID, ...extra } });
    expect(discard(info({ webhookEnable: true }))).toBe('Invalid type: additionalInfo.webhookEnable: Expected string, received boolean');
    expect(discard(info({ isFirstPayment: 1 }))).toBe('Invalid type: additionalInfo.isFirstPayment: Expected string, received number');
    expect(discard(info({ status: ['ACSC'] }))).toBe('Invalid type: additionalInfo.status: Expected string, received array');
    expect(discard(info({ rp: { id: 'x' } }))).toBe('Invalid type: additionalInfo.rp: Expected string, received object');
    expect(discard(info({ journeyLinkId: null }))).toBe('Invalid type: additionalInfo.journeyLinkId: Expected string, received null');
    expect(discard(info({ webhookEnable: 'TRUE', isFirstPayment: 'FALSE', status: 'ACSC', rp: 'x', journeyLinkId: '' }))).toBeNull();

    expect(discard(info({ companyProfileInfo: { naturezaJuridica: '2062', porteEmpresa: '03', extra: 'x' } }))).toBeNull();
    expect(discard(info({ companyProfileInfo: {} }))).toBeNull();
    expect(discard(info({ companyProfileInfo: ['2062'] }))).toBe('Invalid type: additionalInfo.companyProfileInfo: Expected object, received array');
    expect(discard(info({ companyProfileInfo: { naturezaJuridica: 2062 } }))).toBe(
      'Invalid type: additionalInfo.companyProfileInfo.naturezaJuridica: Expected string, received number',
    );

    expect(discard(info({ statusSummary: { available: 3, unavailable: null, nested: { x: 1 } } }))).toBeNull(); // values unchecked
    expect(discard(info({ statusSummary: 'available=3' }))).toBe('Invalid type: additionalInfo.statusSummary: Expected object, received string');
    expect(discard(info({ statusSummary: null }))).toBe('Invalid type: additionalInfo.statusSummary: Expected object, received null');

    expect(discard(info({ paymentList: [] }))).toBeNull();
    expect(discard(info({ paymentList: [{ paymentId: 'p1', status: 'ACSC' }, {}] }))).toBeNull();
    expect(discard(info({ paymentList: 'p1' }))).toBe('Invalid type: additionalInfo.paymentList: Expected array, received string');
    expect(discard(info({ paymentList: [null] }))).toBe('Invalid type: additionalInfo.paymentList.0: Expected object, received null');
    expect(discard(info({ paymentList: [['p1']] }))).toBe('Invalid type: additionalInfo.paymentList.0: Expected object, received array');
    expect(discard(info({ paymentList: [{ paymentId: 'p1', amount: 10 }] }))).toBe('Invalid type: additionalInfo.paymentList.0.amount: Expected string, received number');
  });

  it('opendata: additionalInfo not empty, every value a string (objects included)', () => {
    expect(opendataDiscard(opendataItem({ additionalInfo: {} }))).toBe(NOT_EMPTY);
    expect(opendataDiscard(opendataItem({ additionalInfo: { clientIp: '203.0.113.7', extra: { a: 'b' } } }))).toBe(
      'Invalid type: additionalInfo.extra: Expected string, received object',
    );
    expect(opendataDiscard(opendataItem({ additionalInfo: { clientIp: null } }))).toBe('Invalid type: additionalInfo.clientIp: Expected string, received null');
    expect(opendataDiscard(opendataItem({ additionalInfo: { errorCodes: ['X'], clientIp: '203.0.113.7' } }))).toBe(
      'Invalid type: additionalInfo.errorCodes: Expected string, received array',
    );
  });

  it('errorCodes: a string by default (an array was ACCEPTED before); an array of strings with errorCodesAs "array"', () => {
    const withCodes = (errorCodes: unknown): Item =>
      clientItem({ endpoint: '/open-banking/payments/v4/pix/payments', httpMethod: 'POST', statusCode: 422, additionalInfo: { consentId: URN, errorCodes } });
    const cases: [ErrorCodesAs | undefined, unknown, string | null][] = [
      [undefined, 'PARAMETRO_INVALIDO', null],
      [undefined, ['PARAMETRO_INVALIDO'], 'Invalid type: additionalInfo.errorCodes: Expected string, received array'],
      ['string', '', null],
      ['string', [], 'Invalid type: additionalInfo.errorCodes: Expected string, received array'],
      ['string', 422, 'Invalid type: additionalInfo.errorCodes: Expected string, received number'],
      ['array', ['PARAMETRO_INVALIDO'], null],
      ['array', ['A', 'B'], null],
      ['array', [], null],
      ['array', 'PARAMETRO_INVALIDO', 'Invalid type: additionalInfo.errorCodes: Expected array, received string'],
      ['array', ['A', 1], 'Invalid type: additionalInfo.errorCodes.1: Expected string, received number'],
      ['array', { 0: 'A' }, 'Invalid type: additionalInfo.errorCodes: Expected array, received object'],
    ];
    for (const [errorCodesAs, errorCodes, expected] of cases) {
      expect(discard(withCodes(errorCodes), { errorCodesAs }), `${String(errorCodesAs)} ${JSON.stringify(errorCodes)}`).toBe(expected);
    }
    // The mode is about errorCodes only: any other key stays a string either way.
    expect(discard(clientItem({ additionalInfo: { consentId: [URN] } }), { errorCodesAs: 'array' })).toBe(
      'Invalid type: additionalInfo.consentId: Expected string, received array',
    );
  });

  const ENUMS: [string, string[]][] = [
    ['personType', ['PF', 'PJ']],
    ['grantType', ['AUTHORIZATION_CODE', 'CLIENT_CREDENTIALS', 'REFRESH_TOKEN']],
    ['dropReason', ['NONE', 'NO_CREDENTIAL', 'NO_AUTHORITY', 'NO_AUTHORITY_PERSON_MISMATCH', 'CREDENTIAL_UNAVAILABLE']],
    ['paymentType', ['IMMEDIATE', 'SCHEDULED', 'RECURRENT', 'SWEEPING', 'AUTOMATIC', 'WITHDRAW', 'CHANGE']],
    ['cancelledFrom', ['REJECTED', 'REVOKED', 'INICIADORA', 'DETENTORA']],
  ];

  it.each(ENUMS)('%s: every documented value accepted, anything else refused, on CLIENT and SERVER reports', (key, values) => {
    const items = (value: unknown): Item[] => [
      clientItem({ additionalInfo: { consentId: URN, tokenId: TOKEN_ID, [key]: value } }),
      serverItem({ additionalInfo: { [key]: value } }),
    ];
    for (const value of values) for (const item of items(value)) expect(discard(item), value).toBeNull();
    const expected = values.map((v) => `'${v}'`).join(' | ');
    for (const value of [values[0]!.toLowerCase(), '', `${values[0]} `, 'UNKNOWN']) {
      for (const item of items(value)) expect(discard(item)).toBe(`Invalid enum value. Expected ${expected}, received '${value}'`);
    }
    for (const item of items(1)) expect(discard(item)).toBe(`Invalid type: additionalInfo.${key}: Expected string, received number`);
  });

  it('other documented domains are not discards (localInstrument, status, platform, authorisationFlow…)', () => {
    const info = { consentId: URN, tokenId: TOKEN_ID, localInstrument: 'XYZ', status: 'whatever', platform: 'WINDOWS', authorisationFlow: 'NOPE', amountType: 'x' };
    expect(discard(clientItem({ additionalInfo: info }))).toBeNull();
  });
});

describe('nothing else is a discard: what used to be (or might look like) a discard is ACCEPTED', () => {
  const accepted: [string, () => CheckResult][] = [
    ['consentId with grantType CLIENT_CREDENTIALS on /token (was DISCARDED)', () =>
      checkReport(clientItem({ endpoint: '/token', httpMethod: 'POST', additionalInfo: { grantType: 'CLIENT_CREDENTIALS', consentId: URN } }), context())],
    ['a consentId that is not a URN', () => checkReport(clientItem({ additionalInfo: { consentId: 'uri:bank:1', tokenId: TOKEN_ID } }), context())],
    ['no tokenId', () => checkReport(clientItem({ additionalInfo: { consentId: URN } }), context())],
    ['a malformed tokenId', () => checkReport(clientItem({ additionalInfo: { consentId: URN, tokenId: 'short' } }), context())],
    ['unknown CLIENT additionalInfo keys', () => checkReport(clientItem({ additionalInfo: { consentId: URN, tokenId: TOKEN_ID, fooBar: 'x' } }), context())],
    ['unknown SERVER additionalInfo keys', () => checkReport(serverItem({ additionalInfo: { consentId: URN } }), context())],
    ['SERVER consent creation without dropReason', () =>
      checkReport(serverItem({ endpoint: CONSENT_CREATION[0], httpMethod: 'POST', statusCode: 201 }), context())],
    ['SERVER dropReason NONE on a 422', () =>
      checkReport(serverItem({ endpoint: CONSENT_CREATION[1], httpMethod: 'POST', statusCode: 422, additionalInfo: { dropReason: 'NONE' } }), context())],
    ['dropReason outside consent creation', () => checkReport(serverItem({ additionalInfo: { dropReason: 'NONE' } }), context())],
    ['PJ without companyProfileInfo', () =>
      checkReport(clientItem({ endpoint: CONSENT_CREATION[0], httpMethod: 'POST', statusCode: 201, additionalInfo: { consentId: URN, personType: 'PJ', tokenId: TOKEN_ID } }), context())],
    ['opendata without clientIp, with another key (was DISCARDED)', () => checkOpendataReport(opendataItem({ additionalInfo: { region: 'sul' } }), context())],
    ['opendata clientIp that is not an IP address', () => checkOpendataReport(opendataItem({ additionalInfo: { clientIp: 'not-an-ip' } }), context())],
    ['opendata tokenId', () => checkOpendataReport(opendataItem({ additionalInfo: { clientIp: '203.0.113.7', tokenId: TOKEN_ID } }), context())],
  ];
  it.each(accepted)('%s', (_name, run) => {
    expect(run().discard).toBeNull();
  });
});

// ─────────────────────────────────────────── quality ───────────────────────────────────────────

interface QualityCase {
  name: string;
  result: () => CheckResult;
  findings: [string, string][];
}

const client = (over: Item): CheckResult => checkReport(clientItem(over), context());
const server = (over: Item): CheckResult => checkReport(serverItem(over), context());
const opendata = (info: Item): CheckResult => checkOpendataReport(opendataItem({ additionalInfo: info }), context());
const POST_CONSENTS = { endpoint: CONSENT_CREATION[0], httpMethod: 'POST', statusCode: 201 };

const QUALITY: QualityCase[] = [
  { name: 'clean CLIENT report', result: () => client({}), findings: [] },
  { name: 'clean SERVER report', result: () => server({}), findings: [] },
  { name: 'consentId not a URN', result: () => client({ additionalInfo: { consentId: 'uri:bank:1', tokenId: TOKEN_ID } }), findings: [['urn', 'additionalInfo.consentId']] },
  {
    name: 'enrollmentId not a URN',
    result: () => client({ endpoint: `${OB}/enrollments/v2/enrollments/{enrollmentId}`, additionalInfo: { enrollmentId: 'enr-1', tokenId: TOKEN_ID } }),
    findings: [['urn', 'additionalInfo.enrollmentId']],
  },
  {
    name: 'recurringConsentId not a URN; an empty namespace is not one either; the full alphabet of the pattern is',
    result: () =>
      client({
        endpoint: `${OB}/automatic-payments/v2/recurring-consents/{recurringConsentId}`,
        additionalInfo: { recurringConsentId: 'recurring-1', consentId: "urn:a-b:()+,-.:=@;$_!*'%/?#", tokenId: TOKEN_ID, enrollmentId: 'urn::x' },
      }),
    findings: [
      ['urn', 'additionalInfo.enrollmentId'],
      ['urn', 'additionalInfo.recurringConsentId'],
    ],
  },
  { name: 'no tokenId below 400', result: () => client({ additionalInfo: { consentId: URN } }), findings: [['tokenId.missing', 'additionalInfo.tokenId']] },
  { name: 'no tokenId on a 4xx: fine', result: () => client({ statusCode: 404, additionalInfo: { consentId: URN } }), findings: [] },
  { name: 'no tokenId on /token 200: still owed', result: () => client({ endpoint: '/token', httpMethod: 'POST', additionalInfo: { grantType: 'REFRESH_TOKEN', consentId: URN } }), findings: [['tokenId.missing', 'additionalInfo.tokenId']] },
  ...['/register', '/register/{clientId}', '/revocation', '/introspection', '/pushed-authorization-request', `${OB}/admin/v2/metrics`, `${OB}/discovery/v2/status`, `${OB}/discovery/v2/outages`].map(
    (endpoint): QualityCase => ({ name: `no tokenId owed on ${endpoint}`, result: () => client({ endpoint, additionalInfo: {} }), findings: [] }),
  ),
  { name: 'tokenId not 12 base64url characters', result: () => client({ additionalInfo: { consentId: URN, tokenId: 'c9ng8aKzxNX=' } }), findings: [['tokenId.format', 'additionalInfo.tokenId']] },
  { name: 'tokenId with - and _ is fine', result: () => client({ additionalInfo: { consentId: URN, tokenId: 'c9ng-aKz_NXm' } }), findings: [] },
  {
    name: 'consentId and enrollmentId with grantType CLIENT_CREDENTIALS on /token',
    result: () => client({ endpoint: '/token', httpMethod: 'POST', additionalInfo: { grantType: 'CLIENT_CREDENTIALS', consentId: URN, enrollmentId: URN, tokenId: TOKEN_ID } }),
    findings: [
      ['token.clientCredentials', 'additionalInfo.consentId'],
      ['token.clientCredentials', 'additionalInfo.enrollmentId'],
    ],
  },
  {
    name: 'consentId with AUTHORIZATION_CODE on /token is fine',
    result: () => client({ endpoint: '/token', httpMethod: 'POST', additionalInfo: { grantType: 'AUTHORIZATION_CODE', consentId: URN, tokenId: TOKEN_ID } }),
    findings: [],
  },
  { name: 'SERVER consent creation without dropReason', result: () => server(POST_CONSENTS), findings: [['dropReason.missing', 'additionalInfo.dropReason']] },
  { name: 'SERVER consent creation with dropReason', result: () => server({ ...POST_CONSENTS, additionalInfo: { dropReason: 'NO_AUTHORITY' } }), findings: [] },
  {
    name: 'SERVER dropReason other than NO_CREDENTIAL when the answer is not 201',
    result: () => server({ ...POST_CONSENTS, endpoint: CONSENT_CREATION[4], statusCode: 422, additionalInfo: { dropReason: 'NONE' } }),
    findings: [['dropReason.noCredential', 'additionalInfo.dropReason']],
  },
  { name: 'SERVER NO_CREDENTIAL on a 500', result: () => server({ ...POST_CONSENTS, statusCode: 500, additionalInfo: { dropReason: 'NO_CREDENTIAL' } }), findings: [] },
  {
    name: 'dropReason outside the consent-creation POSTs (a GET of the same endpoint too)',
    result: () => server({ endpoint: CONSENT_CREATION[0], additionalInfo: { dropReason: 'NONE' } }),
    findings: [['dropReason.outsideCreation', 'additionalInfo.dropReason']],
  },
  {
    name: 'SERVER additionalInfo keys other than dropReason',
    result: () => server({ ...POST_CONSENTS, additionalInfo: { dropReason: 'NONE', consentId: URN, personType: 'PF' } }),
    findings: [
      ['server.unknownKey', 'additionalInfo.consentId'],
      ['server.unknownKey', 'additionalInfo.personType'],
    ],
  },
  {
    name: 'PJ without companyProfileInfo on consent creation',
    result: () => client({ ...POST_CONSENTS, endpoint: CONSENT_CREATION[3], additionalInfo: { enrollmentId: URN, personType: 'PJ', tokenId: TOKEN_ID } }),
    findings: [['companyProfileInfo.missing', 'additionalInfo.companyProfileInfo']],
  },
  {
    name: 'PJ with companyProfileInfo, and PF without, are fine',
    result: () => {
      const pj = client({ ...POST_CONSENTS, additionalInfo: { consentId: URN, personType: 'PJ', companyProfileInfo: { naturezaJuridica: '2062', porteEmpresa: '03' }, tokenId: TOKEN_ID } });
      const pf = client({ ...POST_CONSENTS, additionalInfo: { consentId: URN, personType: 'PF', tokenId: TOKEN_ID } });
      return { discard: pj.discard ?? pf.discard, quality: [...pj.quality, ...pf.quality] };
    },
    findings: [],
  },
  { name: 'opendata without clientIp', result: () => opendata({ region: 'sul' }), findings: [['opendata.clientIp.missing', 'additionalInfo.clientIp']] },
  { name: 'opendata clientIp not an IP address', result: () => opendata({ clientIp: '300.1.1.1' }), findings: [['opendata.clientIp.format', 'additionalInfo.clientIp']] },
  { name: 'opendata IPv6 clientIp is fine', result: () => opendata({ clientIp: '2001:db8::1' }), findings: [] },
];

describe('quality findings: ACCEPTED, with { rule, field, message }', () => {
  it.each(QUALITY.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = c.result();
    expect(result.discard).toBeNull();
    expect(result.quality.map((f) => [f.rule, f.field])).toEqual(c.findings);
    for (const f of result.quality) expect(f.message).toMatch(/\S/);
  });

  it('every quality rule has a case above', () => {
    const seen = new Set(QUALITY.flatMap((c) => c.findings.map(([rule]) => rule)));
    expect([...seen].sort()).toEqual(Object.keys(QUALITY_RULES).sort());
  });

  it('a discarded item carries no quality findings', () => {
    expect(checkReport(clientItem({ httpMethod: 'HEAD', additionalInfo: { consentId: 'uri:x' } }), context()).quality).toEqual([]);
    expect(checkOpendataReport(opendataItem({ statusCode: 100, additionalInfo: { region: 'x' } }), context()).quality).toEqual([]);
  });
});

// ─────────────────────────────────────────── prototype safety ───────────────────────────────────────────

const PROTOTYPE_KEYS = [
  'constructor', 'toString', 'toLocaleString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable',
  '__proto__', '__defineGetter__', '__lookupGetter__',
];

/** `base` as JSON text with `"key": value` added to the object at `path` ('' for the top level), parsed back. */
function parsedWith(base: Item, path: '' | 'additionalInfo', key: string, value: unknown): Item {
  const text = JSON.stringify(base);
  const entry = `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  const patched = path === '' ? `{${entry},${text.slice(1)}` : text.replace('"additionalInfo":{', `"additionalInfo":{${entry},`);
  const item = JSON.parse(patched) as Item;
  const target = path === '' ? item : (item.additionalInfo as Item);
  expect(Object.hasOwn(target, key), 'the key is an own property after JSON.parse').toBe(true);
  return item;
}

describe('prototype safety: keys and values named after Object.prototype are data, nothing more', () => {
  it.each(PROTOTYPE_KEYS)('additionalInfo key %s: a string value is ACCEPTED, other values get the type message', (key) => {
    expect(checkReport(parsedWith(clientItem(), 'additionalInfo', key, 'x'), context())).toEqual({ discard: null, quality: [] });
    expect(discard(parsedWith(serverItem({ additionalInfo: { dropReason: 'NONE' } }), 'additionalInfo', key, 'x'))).toBeNull();
    expect(discard(parsedWith(clientItem(), 'additionalInfo', key, {}))).toBe(`Invalid type: additionalInfo.${key}: Expected string, received object`);
    expect(discard(parsedWith(clientItem(), 'additionalInfo', key, 1))).toBe(`Invalid type: additionalInfo.${key}: Expected string, received number`);
    expect(opendataDiscard(parsedWith(opendataItem(), 'additionalInfo', key, 'x'))).toBeNull();
    // The only key: the object is not empty.
    expect(discard(JSON.parse(JSON.stringify(clientItem({ additionalInfo: {} })).replace('"additionalInfo":{}', `"additionalInfo":{"${key}":"x"}`)))).toBeNull();
  });

  it.each(PROTOTYPE_KEYS)('top-level key %s is an unrecognized key, on both streams', (key) => {
    const message = `Invalid format: : Unrecognized key(s) in object: '${key}'`;
    expect(discard(parsedWith(clientItem(), '', key, 'x'))).toBe(message);
    expect(discard(parsedWith(serverItem(), '', key, {}))).toBe(message);
    expect(opendataDiscard(parsedWith(opendataItem(), '', key, null))).toBe(message);
  });

  it('values whose toString / valueOf are not callable never throw: every field, both streams', () => {
    const hostile = JSON.parse('{"toString": 1, "valueOf": 1, "constructor": 1}') as unknown;
    for (const key of [...CLIENT_REQUIRED, 'correlationId']) {
      expect(() => discard(clientItem({ [key]: hostile })), key).not.toThrow();
      expect(discard(clientItem({ [key]: hostile })), key).not.toBeNull();
    }
    for (const key of ['endpoint', 'statusCode', 'httpMethod', 'timestamp', 'processTimespan']) {
      expect(opendataDiscard(opendataItem({ [key]: hostile })), key).not.toBeNull();
    }
    expect(discard(clientItem({ role: hostile }))).toBe(`Invalid enum value. Expected 'SERVER' | 'CLIENT', received '{"toString":1,"valueOf":1,"constructor":1}'`);
    expect(discard(clientItem({ endpoint: hostile }))).toBe('Unlisted endpoint: {"toString":1,"valueOf":1,"constructor":1}');
    expect(discard(clientItem({ additionalInfo: { consentId: hostile } }))).toBe('Invalid type: additionalInfo.consentId: Expected string, received object');
    // In-process callers may pass worse: a cycle, a throwing toJSON, a symbol.
    const cycle: Item = {};
    cycle.self = cycle;
    expect(discard(clientItem({ httpMethod: cycle }))).toBe("Invalid enum value. Expected 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', received 'object'");
    expect(discard(clientItem({ endpoint: { toJSON: () => { throw new Error('no'); } } }))).toBe('Unlisted endpoint: object');
    expect(discard(clientItem({ role: Symbol('CLIENT') }))).toBe("Invalid enum value. Expected 'SERVER' | 'CLIENT', received 'Symbol(CLIENT)'");
  });

  it('only own properties count: inherited ones are not sent; null-prototype objects are fine', () => {
    expect(discard(Object.create(clientItem()))).toBe('Missing fields: role');
    expect(discard(clientItem({ additionalInfo: Object.create({ consentId: URN }) }))).toBe(NOT_EMPTY);
    const info = Object.assign(Object.create(null) as Item, { consentId: URN, tokenId: TOKEN_ID });
    const item = Object.assign(Object.create(null) as Item, clientItem({ additionalInfo: info }));
    expect(checkReport(item, context())).toEqual({ discard: null, quality: [] });
  });

  it('validating hostile items leaves Object.prototype untouched', () => {
    for (const key of PROTOTYPE_KEYS) {
      discard(parsedWith(clientItem(), 'additionalInfo', key, { polluted: 'yes' }));
      discard(parsedWith(clientItem(), '', key, { polluted: 'yes' }));
    }
    expect(({} as Item).polluted).toBeUndefined();
    expect(Object.prototype.toString.call([])).toBe('[object Array]');
  });
});
