import { randomUUID } from 'node:crypto';
import { CLIENT_ORG, SERVER_ORG } from './pki.js';

const ENDPOINTS = [
  '/open-banking/accounts/v2/accounts',
  '/open-banking/accounts/v2/accounts/{accountId}/balances',
  '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/bills',
  '/open-banking/customers/v2/personal/identifications',
  '/open-banking/loans/v2/contracts/{contractId}/payments',
];

/** A valid private report with a fresh fapiInteractionId; even `i` reports as CLIENT, odd as SERVER. */
export function validReport(i: number, now = Date.now()): Record<string, unknown> {
  const common = {
    fapiInteractionId: randomUUID(),
    endpoint: ENDPOINTS[i % ENDPOINTS.length],
    statusCode: 200,
    httpMethod: 'GET',
    timestamp: new Date(now - 1000 - (i % 1000)).toISOString(),
    processTimespan: 50 + (i % 200),
    clientOrgId: CLIENT_ORG,
    serverOrgId: SERVER_ORG,
  };
  if (i % 2 === 0) {
    return {
      role: 'CLIENT',
      ...common,
      clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      endpointUriPrefix: 'https://api.bank.example.com.br/open',
      additionalInfo: { consentId: `urn:bank:${randomUUID()}`, tokenId: 'c9ng8aKzxNXm' },
    };
  }
  return { role: 'SERVER', ...common };
}

/**
 * Reports for the rule tables (test/report/rules.test.ts, severity.test.ts), valid at FIXED_NOW with the default
 * rules: each test changes one thing and looks at what that one change does.
 */
export const FIXED_NOW = Date.parse('2026-11-22T12:00:00.000Z');
export const FIXED_FAPI = 'c2f1b3a4-5d6e-4f70-8a9b-0c1d2e3f4a5b';
export const FIXED_URN = 'urn:bank:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf';
export const FIXED_TOKEN_ID = 'c9ng8aKzxNXm';
type Item = Record<string, unknown>;

export const fixedClient = (over: Item = {}): Item => ({
  role: 'CLIENT',
  fapiInteractionId: FIXED_FAPI,
  endpoint: '/open-banking/accounts/v2/accounts/{accountId}/balances',
  statusCode: 200,
  httpMethod: 'GET',
  timestamp: '2026-11-22T11:59:00.000Z',
  processTimespan: 120,
  clientOrgId: CLIENT_ORG,
  serverOrgId: SERVER_ORG,
  clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
  endpointUriPrefix: 'https://api.bank.com.br/open',
  additionalInfo: { consentId: FIXED_URN, tokenId: FIXED_TOKEN_ID },
  ...over,
});

export const fixedServer = (over: Item = {}): Item => ({
  role: 'SERVER',
  fapiInteractionId: FIXED_FAPI,
  endpoint: '/open-banking/accounts/v2/accounts/{accountId}/balances',
  statusCode: 200,
  httpMethod: 'GET',
  timestamp: '2026-11-22T11:59:00.100Z',
  processTimespan: 90,
  clientOrgId: CLIENT_ORG,
  serverOrgId: SERVER_ORG,
  ...over,
});

export const fixedOpendata = (over: Item = {}): Item => ({
  endpoint: '/open-banking/channels/v2/branches',
  statusCode: 200,
  httpMethod: 'GET',
  timestamp: '2026-11-22T11:59:00.000Z',
  processTimespan: 35,
  additionalInfo: { clientIp: '203.0.113.7' },
  ...over,
});

export const without = (item: Item, key: string): Item => Object.fromEntries(Object.entries(item).filter(([k]) => k !== key));

/** A raw interaction (POST /v1/interactions) of the client organisation calling the server one, 2 s ago. */
export const clientInteraction = (over: Item = {}): Item => ({
  role: 'CLIENT',
  method: 'GET',
  url: 'https://api.banco.com.br/open-banking/accounts/v2/accounts/42/balances',
  status: 200,
  startTime: new Date(Date.now() - 2000).toISOString(),
  durationMs: 120,
  fapiInteractionId: randomUUID(),
  counterpartyOrgId: SERVER_ORG,
  orgId: CLIENT_ORG,
  additionalInfo: { consentId: 'urn:banco:C1' },
  ...over,
});
