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
