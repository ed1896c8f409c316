import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PkiFiles } from '../../src/pki/certs.js';
import { checkOpendataReport, checkReport, discardReason, loadAcceptedEndpoints, opendataDiscardReason } from '../../src/emulator/validate.js';
import { eventually } from '../helpers/http.js';
import { tempDir } from '../helpers/pki.js';
import {
  BANRISUL,
  BV,
  CAIXA,
  EmulatorHarness,
  GERENCIANET,
  OPENDATA,
  PRIVATE,
  SEED_ORGS,
  clientReport,
  makePki,
  opendataReport,
  serverReport,
  ts,
  type ReportModel,
  type ReportResult,
} from './harness.js';

/**
 * Issue #4, sent straight to the emulator (no sidecar in between): the integration manual's six scenarios, the
 * OpenAPI's own request examples, every DISCARDED message of pcm-rules.md §8.3 that can arise without the Directory,
 * and the reconciliation lifecycle of §9 (GET by fapiInteractionId, /emulator/reports, reset, state across restarts).
 * Pairing is driven by `reconcile()`; the background pass is set far out so nothing changes behind a test's back.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DAY = 24 * 60 * 60 * 1000;

/** Organisations of pcm-openapi-current.yaml's examples (request-body example and property examples). */
const SPEC_BODY_CLIENT_ORG = '082ff90b-9d65-46bb-b123-b88eb47fd61c';
const SPEC_BODY_SERVER_ORG = 'b8e34d5a-2ed5-451e-8ddb-45a1edc76243';
const SPEC_PROP_CLIENT_ORG = '56411f7e-d58b-44a8-8a2b-ff326d3f2955';
const SPEC_PROP_SERVER_ORG = 'c1ca8e62-9d6f-4ea3-84f2-d66bc0a8f7dc';

let pki: PkiFiles;

beforeAll(async () => {
  pki = await makePki([...SEED_ORGS, SPEC_BODY_CLIENT_ORG, SPEC_BODY_SERVER_ORG, SPEC_PROP_CLIENT_ORG, SPEC_PROP_SERVER_ORG]);
});

function expectModel(model: ReportModel): void {
  expect(model.reportId).toMatch(UUID);
  expect(new Date(model.createdAt).toISOString()).toBe(model.createdAt);
  expect(new Date(model.updatedAt).toISOString()).toBe(model.updatedAt);
  expect(Date.parse(model.updatedAt)).toBeGreaterThanOrEqual(Date.parse(model.createdAt));
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Seed 000 (../shared/seeds/000_b7383e1550f90674.txt), "Exemplos de chamadas"
// ---------------------------------------------------------------------------------------------------------------

/**
 * The manual's JSON, brought to today's rules as test/report/seed-scenarios.test.ts does: typographic quotes and the
 * missing comma after additionalInfo fixed; unarranged-accounts-overdraft v1 → v2 (v1 is off the accepted list);
 * consentId `uri:` → `urn:` and a tokenId (2025D); the "clientSSId" placeholder → a UUID. Timestamps are fresh
 * (the manual's 2022 ones are past the 7-day window) and each scenario has its own fapiInteractionId (the manual
 * reuses cd9a2e6b-… in all six, which would pair scenarios with each other).
 */
const SEED_ENDPOINT = '/open-banking/unarranged-accounts-overdraft/v2/contracts/{contractId}/scheduled-instalments';

function seedClient(bank: string, fapiInteractionId: string, clientOrgId: string | undefined, serverOrgId: string | undefined, over: Record<string, unknown> = {}) {
  return {
    role: 'CLIENT',
    timestamp: ts(-120_000),
    fapiInteractionId,
    endpoint: SEED_ENDPOINT,
    additionalInfo: { consentId: `urn:${bank}:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf`, personType: 'PF', tokenId: 'c9ng8aKzxNXm' },
    statusCode: 200,
    httpMethod: 'GET',
    ...(clientOrgId ? { clientOrgId } : {}),
    ...(serverOrgId ? { serverOrgId } : {}),
    processTimespan: 120,
    clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    endpointUriPrefix: 'https://openbanking.instituicao.com.br/namespace',
    ...over,
  };
}

function seedServer(fapiInteractionId: string, clientOrgId: string, serverOrgId: string, statusCode: number) {
  return {
    role: 'SERVER',
    // The manual's server timestamp is 89.19 s after the client's.
    timestamp: ts(-120_000 + 89_190),
    fapiInteractionId,
    endpoint: SEED_ENDPOINT,
    statusCode,
    httpMethod: 'GET',
    clientOrgId,
    serverOrgId,
    processTimespan: 90,
  };
}

describe("seed 000's six scenarios, sent to the emulator with each reporter's own certificate and token", () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki);
  });
  afterAll(async () => h.close());

  it('1 PAIRED: BV calls Caixa, both report; each sees its own report PAIRED with the other as pairedReportId', async () => {
    const fapi = randomUUID();
    const bv = await h.send(BV, [seedClient('bv', fapi, BV, CAIXA)]);
    const caixa = await h.send(CAIXA, [seedServer(fapi, BV, CAIXA, 200)]);
    expect(bv).toMatchObject({ status: 200, body: [{ reportId: expect.stringMatching(UUID), status: 'ACCEPTED' }] });
    expect(caixa).toMatchObject({ status: 200, body: [{ reportId: expect.stringMatching(UUID), status: 'ACCEPTED' }] });
    const bvId = bv.body[0]!.reportId;
    const caixaId = caixa.body[0]!.reportId;

    // Before reconciliation: ACCEPTED, not paired yet.
    expect((await h.byId(BV, fapi)).body).toMatchObject({ reportId: bvId, status: 'ACCEPTED', pairedReportId: null });

    h.emulator.reconcile();
    const seenByBv = await h.byId(BV, fapi);
    const seenByCaixa = await h.byId(CAIXA, fapi);
    expect(seenByBv.status).toBe(200);
    expect(seenByBv.body).toMatchObject({ reportId: bvId, pairedReportId: caixaId, status: 'PAIRED' });
    expect(seenByCaixa.body).toMatchObject({ reportId: caixaId, pairedReportId: bvId, status: 'PAIRED' });
    expectModel(seenByBv.body);
    expectModel(seenByCaixa.body);
    // A party to neither side sees nothing.
    expect((await h.byId(BANRISUL, fapi)).status).toBe(404);
  });

  it('2 PAIRED_INCONSISTENT: Caixa calls Banrisul, Banrisul says 201 where Caixa says 200', async () => {
    const fapi = randomUUID();
    const caixa = await h.send(CAIXA, [seedClient('caixa', fapi, CAIXA, BANRISUL)]);
    const banrisul = await h.send(BANRISUL, [seedServer(fapi, CAIXA, BANRISUL, 201)]);
    expect([caixa.status, banrisul.status]).toEqual([200, 200]);
    h.emulator.reconcile();
    const a = (await h.byId(CAIXA, fapi)).body;
    const b = (await h.byId(BANRISUL, fapi)).body;
    expect(a).toMatchObject({ reportId: caixa.body[0]!.reportId, pairedReportId: banrisul.body[0]!.reportId, status: 'PAIRED_INCONSISTENT' });
    expect(b).toMatchObject({ reportId: banrisul.body[0]!.reportId, pairedReportId: caixa.body[0]!.reportId, status: 'PAIRED_INCONSISTENT' });
    // §9.1: statusCode is one of the consistency fields; the emulator names the one that differs.
    expect(a.message).toBe('Inconsistent fields: statusCode');
    expectModel(a);
  });

  it('3 SINGLE: Banrisul reports a timeout (408) to BV and no counterpart can come', async () => {
    const fapi = randomUUID();
    const sent = await h.send(BANRISUL, [
      seedClient('banrisul', fapi, BANRISUL, BV, { statusCode: 408, additionalInfo: { consentId: 'urn:banrisul:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf' } }),
    ]);
    expect(sent).toMatchObject({ status: 200, body: [{ status: 'ACCEPTED' }] });
    h.emulator.reconcile();
    const model = (await h.byId(BANRISUL, fapi)).body;
    expect(model).toMatchObject({ reportId: sent.body[0]!.reportId, status: 'SINGLE', pairedReportId: null });
    expectModel(model);
  });

  it('4 DISCARDED: Gerencianet without httpMethod → "Missing fields: httpMethod"', async () => {
    // The manual says "sem o campo httpMethod" but its JSON still carries it; the field is removed here. It shows a
    // 400 with one object; the current contract (pcm-rules.md §8.1, the OpenAPI) is 207 with an array.
    const fapi = randomUUID();
    const report: Record<string, unknown> = seedClient('gerencianet', fapi, GERENCIANET, BV);
    delete report.httpMethod;
    const sent = await h.send(GERENCIANET, [report]);
    expect(sent.status).toBe(207);
    expect(sent.body).toEqual([{ reportId: expect.stringMatching(UUID), status: 'DISCARDED', message: 'Missing fields: httpMethod' }]);
    h.emulator.reconcile(); // DISCARDED is terminal
    expect((await h.byId(GERENCIANET, fapi)).body).toMatchObject({
      reportId: sent.body[0]!.reportId,
      status: 'DISCARDED',
      pairedReportId: null,
      message: 'Missing fields: httpMethod',
    });
  });

  it('5 DISCARDED: Caixa with endpoint "/invalid_endpoint" → "Unlisted endpoint: /invalid_endpoint"', async () => {
    // The manual's answer reads "/invalid_enpoint" (a typo); the message names the endpoint that was sent.
    const fapi = randomUUID();
    const sent = await h.send(CAIXA, [seedClient('caixa', fapi, CAIXA, BV, { endpoint: '/invalid_endpoint' })]);
    expect(sent.status).toBe(207);
    expect(sent.body).toEqual([{ reportId: expect.stringMatching(UUID), status: 'DISCARDED', message: 'Unlisted endpoint: /invalid_endpoint' }]);
    expect((await h.byId(CAIXA, fapi)).body).toMatchObject({ status: 'DISCARDED', message: 'Unlisted endpoint: /invalid_endpoint' });
  });

  it('6 DISCARDED: Banrisul without clientOrgId/serverOrgId — only Banrisul can read it back', async () => {
    const fapi = randomUUID();
    const sent = await h.send(BANRISUL, [seedClient('banrisul', fapi, undefined, undefined, { endpoint: '/invalid_endpoint' })]);
    expect(sent.status).toBe(207);
    expect(sent.body).toEqual([
      { reportId: expect.stringMatching(UUID), status: 'DISCARDED', message: 'Missing fields: clientOrgId, serverOrgId; Unlisted endpoint: /invalid_endpoint' },
    ]);
    const own = await h.byId(BANRISUL, fapi);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ reportId: sent.body[0]!.reportId, status: 'DISCARDED' });
    for (const other of [BV, CAIXA, GERENCIANET]) expect((await h.byId(other, fapi)).status).toBe(404);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2. The OpenAPI's own request examples (../shared/spec/pcm-openapi-current.yaml)
// ---------------------------------------------------------------------------------------------------------------

/**
 * paths./report-api/v1/private/report/.post.requestBody.content.application/json.example — two ClientReportRequest
 * items and one ServerReportRequest item, copied as written.
 */
const SPEC_PRIVATE_BODY_EXAMPLE = [
  {
    timestamp: '2021-11-11T18:08:08.894Z',
    fapiInteractionId: 'd78fc4e5-37ca-4da3-adf2-9b082bf92280',
    clientSSId: 'f0b5419b-2b5f-4f59-9862-6d2a8e23be26',
    clientOrgId: '082ff90b-9d65-46bb-b123-b88eb47fd61c',
    serverOrgId: 'b8e34d5a-2ed5-451e-8ddb-45a1edc76243',
    endpoint: '/open-banking/products-services/v1/business-financings',
    statusCode: 200,
    httpMethod: 'GET',
    correlationId: 'wNupARo7I9E2PLJZph18a0M9y7DcUe7ITt3DqUOJd9NVjnskxf',
    processTimespan: 120,
    endpointUriPrefix: 'https://ofin.bank.com/',
    role: 'CLIENT',
    additionalInfo: { personType: 'PF', consentId: 'uri:bank:d1541b17-3175-477d-a52b-2813ae2c4c36' },
  },
  {
    timestamp: '2021-11-11T19:22:10.334Z',
    fapiInteractionId: '0786fce3-a36f-43f8-b66a-d26ab1dfc639',
    clientSSId: 'f0b5419b-2b5f-4f59-9862-6d2a8e23be26',
    clientOrgId: '082ff90b-9d65-46bb-b123-b88eb47fd61c',
    serverOrgId: 'b8e34d5a-2ed5-451e-8ddb-45a1edc76243',
    endpoint: '/open-banking/products-services/v1/business-financings',
    statusCode: 200,
    httpMethod: 'GET',
    correlationId: '8qPzRL4nBzesCc3H1827UlqqEuTT4F5lN82DuJllcnL5VnnY5j',
    processTimespan: 117,
    endpointUriPrefix: 'https://ofin.bank.com/',
    role: 'CLIENT',
    additionalInfo: { personType: 'PF', consentId: 'uri:bank:d1541b17-3175-477d-a52b-2813ae2c4c36' },
  },
  {
    timestamp: '2021-11-11T19:41:41.811Z',
    fapiInteractionId: 'd1541b17-3175-477d-a52b-2813ae2c4c36',
    clientOrgId: '082ff90b-9d65-46bb-b123-b88eb47fd61c',
    serverOrgId: 'b8e34d5a-2ed5-451e-8ddb-45a1edc76243',
    endpoint: '/open-banking/products-services/v1/business-financings',
    statusCode: 200,
    httpMethod: 'GET',
    processTimespan: 125,
    role: 'SERVER',
  },
];

/**
 * components.schemas.ClientReportRequest: the schema has no object-level example; this is the object its properties'
 * `example`s make. `role` has none (enum; the description says 'Obrigatório valor "CLIENT"'). additionalInfo's keys
 * depend on the endpoint: these are the examples of the two that apply to a consent call (consentId, personType).
 */
const SPEC_CLIENT_PROPERTY_EXAMPLE = {
  fapiInteractionId: 'd78fc4e5-37ca-4da3-adf2-9b082bf92280',
  endpoint: '/open-banking/consents/v2/consents',
  statusCode: 200,
  httpMethod: 'GET',
  correlationId: 'uGQHwNupARo7I9E2PLJZph18a0M9y7DcUe7ITt3DqUOJd9NVjnskxf2',
  timestamp: '2021-11-11T18:08:08.278Z',
  processTimespan: 120.000001,
  clientSSId: '84570da9-567b-4201-9b77-c715bc5bffde',
  clientOrgId: '56411f7e-d58b-44a8-8a2b-ff326d3f2955',
  serverOrgId: 'c1ca8e62-9d6f-4ea3-84f2-d66bc0a8f7dc',
  endpointUriPrefix: 'https://openbanking.instituicao-1.com.br/opbk',
  role: 'CLIENT',
  additionalInfo: { consentId: 'urn:bancoex:C1DD33123', personType: 'PJ' },
};

/**
 * components.schemas.ServerReportRequest, from its properties' `example`s likewise: `role` 'Obrigatório valor
 * "SERVER"'; additionalInfo.dropReason's example; correlationId is in the schema ("Não utilizado pelo server").
 */
const SPEC_SERVER_PROPERTY_EXAMPLE = {
  fapiInteractionId: 'd78fc4e5-37ca-4da3-adf2-9b082bf92280',
  endpoint: '/open-banking/consents/v2/consents',
  statusCode: 200,
  httpMethod: 'GET',
  correlationId: 'uGQHwNupARo7I9E2PLJZph18a0M9y7DcUe7ITt3DqUOJd9NVjnskxf2',
  timestamp: '2021-11-11T18:08:08.152Z',
  processTimespan: 120.000001,
  clientOrgId: '56411f7e-d58b-44a8-8a2b-ff326d3f2955',
  serverOrgId: 'c1ca8e62-9d6f-4ea3-84f2-d66bc0a8f7dc',
  role: 'SERVER',
  additionalInfo: { dropReason: 'NO_AUTHORITY' },
};

/** paths./report-api/v1/opendata/report/.post.requestBody…examples."Request Valido".value, as written. */
const SPEC_OPENDATA_BODY_EXAMPLE = [
  {
    endpoint: '/open-banking/channels/v1/electronic-channels',
    statusCode: 200,
    httpMethod: 'GET',
    timestamp: '2021-11-11T18:08:08.421Z',
    processTimespan: 120,
    additionalInfo: { clientIp: '192.168.10.11' },
  },
  {
    endpoint: '/open-banking/channels/v1/electronic-channels',
    statusCode: 200,
    httpMethod: 'GET',
    timestamp: '2021-11-11T18:08:08.421Z',
    processTimespan: 120,
    additionalInfo: { clientIp: '192.168.10.11' },
  },
];

/**
 * components.schemas.OpendataReportRequest from its properties' `example`s; additionalInfo.clientIp has no example
 * there, so it takes the request example's address.
 */
const SPEC_OPENDATA_PROPERTY_EXAMPLE = {
  endpoint: '/open-banking/opendata-acquiring-services/v1/businesses',
  statusCode: 200,
  httpMethod: 'GET',
  timestamp: '2021-11-11T18:08:08.421Z',
  processTimespan: 120.000001,
  additionalInfo: { clientIp: '192.168.10.11' },
};

/** Today's version of an example: a fresh timestamp (they are from 2021, past the 7-day window of §3.6) and, where given, the endpoint. */
function refreshed<T extends Record<string, unknown>>(item: T, endpoint?: string): T {
  return { ...item, timestamp: ts(-60_000), ...(endpoint ? { endpoint } : {}) };
}

describe("the OpenAPI's own request examples are accepted (changing only what time and the endpoint list have overtaken)", () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki);
  });
  afterEach(async () => {
    await h.call('/emulator/reset', {});
    h.forgetTokens(); // reset revokes tokens
  });
  afterAll(async () => h.close());

  it('private request-body example, as written: discarded for exactly the two overtaken fields, nothing else', async () => {
    const [c1, c2, s1] = SPEC_PRIVATE_BODY_EXAMPLE;
    const clients = await h.send(SPEC_BODY_CLIENT_ORG, [c1, c2]);
    const server = await h.send(SPEC_BODY_SERVER_ORG, [s1]);
    const expected = 'Unlisted endpoint: /open-banking/products-services/v1/business-financings; Report is too old';
    expect(clients.status).toBe(207);
    expect(clients.body.map((r) => r.message)).toEqual([expected, expected]);
    expect(server.body.map((r) => r.message)).toEqual([expected]);
  });

  it('private request-body example with a fresh timestamp and a listed endpoint: all ACCEPTED, correlationIds echoed', async () => {
    // products-services was an opendata API and is gone from both lists; financings v2 is its private counterpart today.
    const endpoint = '/open-banking/financings/v2/contracts';
    const [c1, c2, s1] = SPEC_PRIVATE_BODY_EXAMPLE.map((item): Record<string, unknown> => refreshed(item, endpoint));
    // The example mixes two reporters in one batch (082ff90b… reports as CLIENT, b8e34d5a… as SERVER). §2.4: one token
    // belongs to one organisation, so as one batch it is refused whole (403); each reporter sends its own items.
    expect((await h.send(SPEC_BODY_CLIENT_ORG, [c1, c2, s1])).status).toBe(403);
    const clients = await h.send(SPEC_BODY_CLIENT_ORG, [c1, c2]);
    const server = await h.send(SPEC_BODY_SERVER_ORG, [s1]);
    // The 200 answer's examples of the same operation: reportId, the correlationId sent, ACCEPTED.
    expect(clients).toMatchObject({ status: 200 });
    expect(clients.body).toEqual([
      { reportId: expect.stringMatching(UUID), correlationId: 'wNupARo7I9E2PLJZph18a0M9y7DcUe7ITt3DqUOJd9NVjnskxf', status: 'ACCEPTED' },
      { reportId: expect.stringMatching(UUID), correlationId: '8qPzRL4nBzesCc3H1827UlqqEuTT4F5lN82DuJllcnL5VnnY5j', status: 'ACCEPTED' },
    ]);
    expect(server).toMatchObject({ status: 200, body: [{ reportId: expect.stringMatching(UUID), status: 'ACCEPTED' }] });
    expect(server.body[0]).not.toHaveProperty('message');
  });

  it('ClientReportRequest and ServerReportRequest property examples: accepted, and they pair with each other', async () => {
    // consents v2 is off the accepted list (v3 replaced it).
    const client = refreshed(SPEC_CLIENT_PROPERTY_EXAMPLE, '/open-banking/consents/v3/consents');
    const server = refreshed(SPEC_SERVER_PROPERTY_EXAMPLE, '/open-banking/consents/v3/consents');
    const a = await h.send(SPEC_PROP_CLIENT_ORG, [client]);
    const b = await h.send(SPEC_PROP_SERVER_ORG, [server]);
    expect(a.body).toEqual([{ reportId: expect.stringMatching(UUID), correlationId: client.correlationId, status: 'ACCEPTED' }]);
    expect(b.body).toEqual([{ reportId: expect.stringMatching(UUID), correlationId: server.correlationId, status: 'ACCEPTED' }]);
    expect([a.status, b.status]).toEqual([200, 200]);
    h.emulator.reconcile();
    expect((await h.byId(SPEC_PROP_CLIENT_ORG, client.fapiInteractionId)).body).toMatchObject({ status: 'PAIRED', pairedReportId: b.body[0]!.reportId });
    // As written, only the endpoint and the age are wrong.
    const asWritten = await h.send(SPEC_PROP_CLIENT_ORG, [SPEC_CLIENT_PROPERTY_EXAMPLE]);
    expect(asWritten.body[0]!.message).toBe('Unlisted endpoint: /open-banking/consents/v2/consents; Report is too old');
  });

  it('opendata "Request Valido" example and the OpendataReportRequest property example: accepted, then SINGLE', async () => {
    // channels v1 is off the opendata list (v2 replaced it); opendata-acquiring-services v1 is still listed.
    const body = SPEC_OPENDATA_BODY_EXAMPLE.map((item) => refreshed(item, '/open-banking/channels/v2/electronic-channels'));
    const props = refreshed(SPEC_OPENDATA_PROPERTY_EXAMPLE);
    const sent = await h.send(BV, [...body, props], OPENDATA);
    expect(sent.status).toBe(200);
    expect(sent.body).toEqual([0, 1, 2].map(() => ({ reportId: expect.stringMatching(UUID), status: 'ACCEPTED' })));
    expect(h.emulator.snapshot().duplicatesReceived).toBe(1); // the example's two items are identical
    h.emulator.reconcile();
    const stored = await h.reports({ stream: 'opendata' });
    expect(stored.data.map((r) => r.status)).toEqual(['SINGLE', 'SINGLE', 'SINGLE']);
    const asWritten = await h.send(BV, SPEC_OPENDATA_BODY_EXAMPLE, OPENDATA);
    expect(asWritten.body.map((r) => r.message)).toEqual([
      'Unlisted endpoint: /open-banking/channels/v1/electronic-channels; Report is too old',
      'Unlisted endpoint: /open-banking/channels/v1/electronic-channels; Report is too old',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 3. DISCARDED messages (pcm-rules.md §8.3), as src/emulator/validate.ts words them, each with a passing twin
// ---------------------------------------------------------------------------------------------------------------

type Item = Record<string, unknown>;
const without = (item: Item, ...keys: string[]): Item => Object.fromEntries(Object.entries(item).filter(([k]) => !keys.includes(k)));
const renamed = (item: Item, from: string, to: string): Item => Object.fromEntries(Object.entries(item).map(([k, v]) => [k === from ? to : k, v]));
const client = (over: Item = {}): Item => clientReport(BV, CAIXA, over);
const server = (over: Item = {}): Item => serverReport(clientReport(BV, CAIXA), over);
const METHODS = "Invalid enum value. Expected 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', received";

interface DiscardCase {
  cause: string;
  stream?: 'private' | 'opendata';
  bad: () => unknown;
  message: string;
  /** The same report with the cause removed (or at the edge of the rule): accepted. */
  twin: () => unknown;
}

const NIL = '00000000-0000-0000-0000-000000000000';
const NOT_EMPTY = 'additionalInfo should not be empty';
const urn = (): string => `urn:bank:${randomUUID()}`;
const TOKEN_ID = 'c9ng8aKzxNXm';
/** Yesterday at 24:00: the format is right and Date.parse rolls it into today's 00:00 (within the 7 days). */
const rolledOver = (): string => `${new Date(Date.now() - DAY).toISOString().slice(0, 10)}T24:00:00.000Z`;
const sameInstant = (text: string): string => new Date(Date.parse(text)).toISOString();
const call = (endpoint: string, httpMethod: string, additionalInfo: unknown, over: Item = {}): Item =>
  client({ endpoint, httpMethod, additionalInfo, ...over });
const CONSENTS = '/open-banking/consents/v3/consents';
const PIX_V4 = '/open-banking/payments/v4/pix/payments';
const RECURRING_PAYMENT = '/open-banking/automatic-payments/v2/pix/recurring-payments/{recurringPaymentId}';

/** The discard set completed in the severity split: each check of the discard list, with an accepted twin. */
const NEWER_DISCARDS: DiscardCase[] = [
  { cause: 'role null counts as missing', bad: () => client({ role: null }), message: 'Missing fields: role', twin: () => client() },
  {
    cause: 'null in an optional key: SERVER additionalInfo',
    bad: () => server({ additionalInfo: null }),
    message: 'Invalid type: additionalInfo: Expected object, received null',
    twin: () => server(),
  },
  {
    cause: 'null in an optional key: CLIENT correlationId',
    bad: () => client({ correlationId: null }),
    message: 'Invalid correlationId format',
    twin: () => client({ correlationId: '' }),
  },
  {
    cause: 'nil clientSSId (not in the Directory)',
    bad: () => client({ clientSSId: NIL }),
    message: 'Invalid value: Client SSID not found in combined org IDs',
    twin: () => client({ clientSSId: '00000000-0000-0000-0000-000000000001' }),
  },
  {
    cause: 'nil serverOrgId on a CLIENT report (not in the Directory)',
    bad: () => client({ serverOrgId: NIL }),
    message: 'invalid value: Server organization ID not in directory',
    twin: () => client({ serverOrgId: BANRISUL }),
  },
  {
    cause: 'nil clientOrgId on a SERVER report (not in the Directory)',
    bad: () => server({ clientOrgId: NIL }),
    message: 'invalid value: Client organization ID not in directory',
    twin: () => server({ clientOrgId: GERENCIANET }),
  },
  { cause: 'fapiInteractionId not a string', bad: () => server({ fapiInteractionId: 42 }), message: 'Invalid format: fapiInteractionId: Invalid uuid', twin: () => server() },
  { cause: 'endpoint not a string', bad: () => client({ endpoint: 7 }), message: 'Unlisted endpoint: 7', twin: () => client() },
  { cause: 'httpMethod not a string', bad: () => client({ httpMethod: ['GET'] }), message: `${METHODS} '["GET"]'`, twin: () => client({ httpMethod: 'GET' }) },
  {
    cause: 'statusCode not an integer',
    bad: () => client({ statusCode: 200.5 }),
    message: 'Invalid field value: statusCode must be between 200 and 599',
    twin: () => client({ statusCode: 201 }),
  },
  {
    cause: 'timestamp in the format but not a real instant (24:00, which Date.parse rolls over)',
    bad: () => client({ timestamp: rolledOver() }),
    message: 'Invalid field value: Invalid date',
    twin: () => client({ timestamp: sameInstant(rolledOver()) }),
  },
  { cause: 'endpointUriPrefix empty', bad: () => client({ endpointUriPrefix: '' }), message: 'Invalid field value: endpointUriPrefix', twin: () => client({ endpointUriPrefix: 'h' }) },
  {
    cause: 'endpointUriPrefix over 200 characters',
    bad: () => client({ endpointUriPrefix: `https://${'a'.repeat(193)}` }),
    message: 'Invalid field value: endpointUriPrefix',
    twin: () => client({ endpointUriPrefix: `https://${'a'.repeat(192)}` }),
  },
  { cause: 'endpointUriPrefix not a string', bad: () => client({ endpointUriPrefix: 42 }), message: 'Invalid field value: endpointUriPrefix', twin: () => client() },
  { cause: 'correlationId not a string', bad: () => client({ correlationId: 42 }), message: 'Invalid correlationId format', twin: () => client({ correlationId: '42' }) },
  { cause: 'additionalInfo a number', bad: () => server({ additionalInfo: 1 }), message: 'Invalid type: additionalInfo: Expected object, received number', twin: () => server() },
  {
    cause: 'CLIENT {} where a key is always required (GET accounts: consentId)',
    bad: () => client({ additionalInfo: {} }),
    message: NOT_EMPTY,
    twin: () => client({ endpoint: '/open-banking/discovery/v2/status', additionalInfo: {} }),
  },
  {
    cause: 'CLIENT {} on POST /token (grantType)',
    bad: () => call('/token', 'POST', {}),
    message: NOT_EMPTY,
    twin: () => call('/revocation', 'POST', {}),
  },
  {
    cause: 'CLIENT {} on PUT /register/{clientId} (webhookEnable); GET takes {}',
    bad: () => call('/register/{clientId}', 'PUT', {}),
    message: NOT_EMPTY,
    twin: () => call('/register/{clientId}', 'GET', {}),
  },
  {
    cause: 'CLIENT {} on PATCH of a recurring payment; a per-consent payment list takes {}',
    bad: () => call(RECURRING_PAYMENT, 'PATCH', {}),
    message: NOT_EMPTY,
    twin: () => call('/open-banking/payments/v5/consents/{consentId}/pix/payments', 'GET', {}),
  },
  {
    cause: 'CLIENT {} on a method the pair does not list takes {} (DELETE accounts), but DELETE consents needs consentId',
    bad: () => call(`${CONSENTS}/{consentId}`, 'DELETE', {}),
    message: NOT_EMPTY,
    twin: () => call('/open-banking/accounts/v2/accounts', 'DELETE', {}),
  },
  {
    cause: 'SERVER {} on a consent-creation POST; elsewhere a SERVER {} is fine',
    bad: () => server({ endpoint: '/open-banking/payments/v5/consents', httpMethod: 'POST', statusCode: 201, additionalInfo: {} }),
    message: NOT_EMPTY,
    twin: () => server({ endpoint: '/open-banking/payments/v5/consents/{consentId}', httpMethod: 'GET', additionalInfo: {} }),
  },
  {
    cause: 'errorCodes as an array (the default form is one code string)',
    bad: () => call(PIX_V4, 'POST', { consentId: urn(), errorCodes: ['PARAMETRO_INVALIDO'] }, { statusCode: 422 }),
    message: 'Invalid type: additionalInfo.errorCodes: Expected string, received array',
    twin: () => call(PIX_V4, 'POST', { consentId: urn(), errorCodes: 'PARAMETRO_INVALIDO' }, { statusCode: 422 }),
  },
  {
    cause: 'an additionalInfo value that is null',
    bad: () => client({ additionalInfo: { consentId: null, tokenId: TOKEN_ID } }),
    message: 'Invalid type: additionalInfo.consentId: Expected string, received null',
    twin: () => client(),
  },
  {
    cause: 'an unknown additionalInfo key is fine, but its value must be a string',
    bad: () => client({ additionalInfo: { consentId: urn(), tokenId: TOKEN_ID, somethingNew: 1 } }),
    message: 'Invalid type: additionalInfo.somethingNew: Expected string, received number',
    twin: () => client({ additionalInfo: { consentId: urn(), tokenId: TOKEN_ID, somethingNew: '1' } }),
  },
  {
    cause: 'companyProfileInfo not an object',
    bad: () => call(CONSENTS, 'POST', { consentId: urn(), personType: 'PJ', companyProfileInfo: '2062|03' }, { statusCode: 201 }),
    message: 'Invalid type: additionalInfo.companyProfileInfo: Expected object, received string',
    twin: () => call(CONSENTS, 'POST', { consentId: urn(), personType: 'PJ', companyProfileInfo: { naturezaJuridica: '2062', porteEmpresa: '03' } }, { statusCode: 201 }),
  },
  {
    cause: 'companyProfileInfo holding a non-string',
    bad: () => call(CONSENTS, 'POST', { consentId: urn(), personType: 'PJ', companyProfileInfo: { naturezaJuridica: '2062', porteEmpresa: 3 } }, { statusCode: 201 }),
    message: 'Invalid type: additionalInfo.companyProfileInfo.porteEmpresa: Expected string, received number',
    twin: () => call(CONSENTS, 'POST', { consentId: urn(), personType: 'PJ', companyProfileInfo: { naturezaJuridica: '2062', porteEmpresa: '03' } }, { statusCode: 201 }),
  },
  {
    cause: 'statusSummary not an object (its counts are not checked: numbers or strings)',
    bad: () => call('/open-banking/resources/v3/resources', 'GET', { consentId: urn(), statusSummary: ['available'] }),
    message: 'Invalid type: additionalInfo.statusSummary: Expected object, received array',
    twin: () => call('/open-banking/resources/v3/resources', 'GET', { consentId: urn(), statusSummary: { available: 3, unavailable: '0' } }),
  },
  {
    cause: 'paymentList not an array',
    bad: () => call(PIX_V4, 'POST', { consentId: urn(), paymentList: { paymentId: 'p1' } }, { statusCode: 201 }),
    message: 'Invalid type: additionalInfo.paymentList: Expected array, received object',
    twin: () => call(PIX_V4, 'POST', { consentId: urn(), paymentList: [] }, { statusCode: 201 }),
  },
  {
    cause: 'paymentList item not an object',
    bad: () => call(PIX_V4, 'POST', { consentId: urn(), paymentList: ['p1'] }, { statusCode: 201 }),
    message: 'Invalid type: additionalInfo.paymentList.0: Expected object, received string',
    twin: () => call(PIX_V4, 'POST', { consentId: urn(), paymentList: [{ paymentId: 'p1', status: 'ACSC' }] }, { statusCode: 201 }),
  },
  {
    cause: 'paymentList item holding a non-string',
    bad: () => call(PIX_V4, 'POST', { consentId: urn(), paymentList: [{ paymentId: 'p1' }, { paymentId: 'p2', status: 1 }] }, { statusCode: 201 }),
    message: 'Invalid type: additionalInfo.paymentList.1.status: Expected string, received number',
    twin: () => call(PIX_V4, 'POST', { consentId: urn(), paymentList: [{ paymentId: 'p1' }, { paymentId: 'p2', status: 'RJCT' }] }, { statusCode: 201 }),
  },
  {
    cause: 'personType outside PF | PJ',
    bad: () => call(CONSENTS, 'POST', { consentId: urn(), personType: 'PESSOA_NATURAL' }, { statusCode: 201 }),
    message: "Invalid enum value. Expected 'PF' | 'PJ', received 'PESSOA_NATURAL'",
    twin: () => call(CONSENTS, 'POST', { consentId: urn(), personType: 'PF' }, { statusCode: 201 }),
  },
  {
    cause: 'paymentType outside its domain (the spec typo SCHEDULE)',
    bad: () => call('/open-banking/payments/v5/consents', 'POST', { consentId: urn(), personType: 'PF', paymentType: 'SCHEDULE' }, { statusCode: 201 }),
    message: "Invalid enum value. Expected 'IMMEDIATE' | 'SCHEDULED' | 'RECURRENT' | 'SWEEPING' | 'AUTOMATIC' | 'WITHDRAW' | 'CHANGE', received 'SCHEDULE'",
    twin: () => call('/open-banking/payments/v5/consents', 'POST', { consentId: urn(), personType: 'PF', paymentType: 'WITHDRAW' }, { statusCode: 201 }),
  },
  {
    cause: 'cancelledFrom outside its domain',
    bad: () => call(RECURRING_PAYMENT, 'GET', { recurringConsentId: urn(), status: 'CANC', cancelledFrom: 'USUARIO' }),
    message: "Invalid enum value. Expected 'REJECTED' | 'REVOKED' | 'INICIADORA' | 'DETENTORA', received 'USUARIO'",
    twin: () => call(RECURRING_PAYMENT, 'GET', { recurringConsentId: urn(), status: 'CANC', cancelledFrom: 'DETENTORA' }),
  },
  {
    cause: 'an enumerated key is held to its domain on a SERVER report too',
    bad: () => server({ additionalInfo: { personType: 'pf' } }),
    message: "Invalid enum value. Expected 'PF' | 'PJ', received 'pf'",
    twin: () => server({ additionalInfo: { personType: 'PF' } }),
  },
  {
    cause: 'an enumerated key that is not a string: the type, not the enum',
    bad: () => call('/token', 'POST', { grantType: 1 }),
    message: 'Invalid type: additionalInfo.grantType: Expected string, received number',
    twin: () => call('/token', 'POST', { grantType: 'REFRESH_TOKEN', consentId: urn() }),
  },
  {
    cause: 'opendata additionalInfo value not a string (unknown keys are fine)',
    stream: 'opendata',
    bad: () => opendataReport({ additionalInfo: { clientIp: 3232238091 } }),
    message: 'Invalid type: additionalInfo.clientIp: Expected string, received number',
    twin: () => opendataReport({ additionalInfo: { clientIp: '192.168.10.11', region: 'sul' } }),
  },
  { cause: 'opendata endpoint not a string', stream: 'opendata', bad: () => opendataReport({ endpoint: 7 }), message: 'Unlisted endpoint: 7', twin: () => opendataReport() },
  {
    cause: 'opendata null counts as missing',
    stream: 'opendata',
    bad: () => opendataReport({ processTimespan: null }),
    message: "Missing fields: 'processTimespan'",
    twin: () => opendataReport({ processTimespan: 0.5 }),
  },
  {
    cause: 'opendata statusCode not a number',
    stream: 'opendata',
    bad: () => opendataReport({ statusCode: '200' }),
    message: 'Field type mismatch: statusCode: Expected number, received string',
    twin: () => opendataReport({ statusCode: 599 }),
  },
  {
    cause: 'opendata statusCode out of range',
    stream: 'opendata',
    bad: () => opendataReport({ statusCode: 199 }),
    message: 'Invalid field value: statusCode must be between 200 and 599',
    twin: () => opendataReport({ statusCode: 200 }),
  },
  {
    cause: 'opendata httpMethod outside the enum',
    stream: 'opendata',
    bad: () => opendataReport({ httpMethod: 'OPTIONS' }),
    message: `${METHODS} 'OPTIONS'`,
    twin: () => opendataReport({ httpMethod: 'DELETE' }),
  },
  {
    cause: 'opendata processTimespan zero',
    stream: 'opendata',
    bad: () => opendataReport({ processTimespan: 0 }),
    message: 'Invalid field value: processTimespan must be greater than zero',
    twin: () => opendataReport({ processTimespan: 1 }),
  },
  {
    cause: 'opendata timestamp not a real instant',
    stream: 'opendata',
    bad: () => opendataReport({ timestamp: rolledOver() }),
    message: 'Invalid field value: Invalid date',
    twin: () => opendataReport({ timestamp: sameInstant(rolledOver()) }),
  },
  {
    cause: 'opendata timestamp more than 5 minutes ahead',
    stream: 'opendata',
    bad: () => opendataReport({ timestamp: ts(6 * 60_000) }),
    message: 'Invalid field value: timestamp is more than 5 minutes in the future',
    twin: () => opendataReport({ timestamp: ts(4 * 60_000) }),
  },
];

const DISCARDS: DiscardCase[] = [
  { cause: 'missing field (CLIENT)', bad: () => without(client(), 'httpMethod'), message: 'Missing fields: httpMethod', twin: () => client() },
  {
    cause: 'missing fields (SERVER), listed in schema order',
    bad: () => without(server(), 'endpoint', 'fapiInteractionId'),
    message: 'Missing fields: fapiInteractionId, endpoint',
    twin: () => server(),
  },
  { cause: 'null counts as missing', bad: () => client({ processTimespan: null }), message: 'Missing fields: processTimespan', twin: () => client({ processTimespan: 1 }) },
  {
    cause: 'additionalInfo is required of a CLIENT (optional for a SERVER)',
    bad: () => without(client(), 'additionalInfo'),
    message: 'Missing fields: additionalInfo',
    twin: () => without(server(), 'additionalInfo'),
  },
  { cause: 'missing role', bad: () => without(client(), 'role'), message: 'Missing fields: role', twin: () => client() },
  {
    cause: 'unrecognized key',
    bad: () => client({ extraField: 'x' }),
    message: "Invalid format: : Unrecognized key(s) in object: 'extraField'",
    twin: () => client({ correlationId: 'x' }),
  },
  {
    cause: 'mis-cased fapiinteractionid',
    bad: () => renamed(client(), 'fapiInteractionId', 'fapiinteractionid'),
    message: "Missing fields: fapiInteractionId; Invalid format: : Unrecognized key(s) in object: 'fapiinteractionid'",
    twin: () => client(),
  },
  {
    cause: 'mis-cased httpmethod',
    bad: () => renamed(server(), 'httpMethod', 'httpmethod'),
    message: "Missing fields: httpMethod; Invalid format: : Unrecognized key(s) in object: 'httpmethod'",
    twin: () => server(),
  },
  {
    cause: 'CLIENT-only keys on a SERVER report',
    bad: () => server({ clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d', endpointUriPrefix: 'https://x.example.com' }),
    message: "Invalid format: : Unrecognized key(s) in object: 'clientSSId', 'endpointUriPrefix'",
    twin: () => server({ additionalInfo: { dropReason: 'NONE' } }),
  },
  {
    cause: 'invalid uuid (the manual\'s "clientSSId" placeholder)',
    bad: () => client({ clientSSId: 'clientSSId' }),
    message: 'Invalid format: clientSSId: Invalid uuid',
    twin: () => client({ clientSSId: 'B0A1D2C3-4E5F-4A6B-8C7D-9E0F1A2B3C4D' }),
  },
  {
    cause: 'invalid uuid in fapiInteractionId',
    bad: () => server({ fapiInteractionId: 'cd9a2e6b0c33403ba8dd544e95c63cd8' }),
    message: 'Invalid format: fapiInteractionId: Invalid uuid',
    twin: () => server({ fapiInteractionId: randomUUID().toUpperCase() }),
  },
  {
    cause: 'nil fapiInteractionId',
    bad: () => client({ fapiInteractionId: '00000000-0000-0000-0000-000000000000' }),
    message: 'fapiInteractionId mismatch. Ensure the ID is not "00000000-0000-0000-0000-000000000000."',
    twin: () => client({ fapiInteractionId: '00000000-0000-0000-0000-000000000001' }),
  },
  { cause: 'httpMethod outside the enum', bad: () => client({ httpMethod: 'HEAD' }), message: `${METHODS} 'HEAD'`, twin: () => client({ httpMethod: 'PATCH' }) },
  { cause: 'httpMethod in lower case', bad: () => server({ httpMethod: 'get' }), message: `${METHODS} 'get'`, twin: () => server({ httpMethod: 'DELETE' }) },
  {
    cause: 'role outside the enum',
    bad: () => client({ role: 'client' }),
    message: "Invalid enum value. Expected 'SERVER' | 'CLIENT', received 'client'",
    twin: () => client({ role: 'CLIENT' }),
  },
  {
    cause: 'statusCode below 200',
    bad: () => client({ statusCode: 199 }),
    message: 'Invalid field value: statusCode must be between 200 and 599',
    twin: () => client({ statusCode: 200 }),
  },
  {
    cause: 'statusCode above 599',
    bad: () => server({ statusCode: 600 }),
    message: 'Invalid field value: statusCode must be between 200 and 599',
    twin: () => server({ statusCode: 599 }),
  },
  {
    cause: 'statusCode not a number',
    bad: () => client({ statusCode: '200' }),
    message: 'Field type mismatch: statusCode: Expected number, received string',
    twin: () => client({ statusCode: 408 }),
  },
  {
    cause: 'processTimespan not a number',
    bad: () => server({ processTimespan: '120' }),
    message: 'Field type mismatch: processTimespan: Expected number, received string',
    twin: () => server({ processTimespan: 120 }),
  },
  {
    cause: 'processTimespan zero',
    bad: () => client({ processTimespan: 0 }),
    message: 'Invalid field value: processTimespan must be greater than zero',
    twin: () => client({ processTimespan: 120.000001 }),
  },
  {
    cause: 'processTimespan negative',
    bad: () => server({ processTimespan: -3 }),
    message: 'Invalid field value: processTimespan must be greater than zero',
    twin: () => server({ processTimespan: 1 }),
  },
  {
    cause: 'timestamp without milliseconds',
    bad: () => client({ timestamp: ts().replace(/\.\d{3}Z$/, 'Z') }),
    message: 'Invalid field value: Invalid timestamp format',
    twin: () => client({ timestamp: ts() }),
  },
  {
    cause: 'timestamp with an offset instead of Z',
    bad: () => server({ timestamp: ts().replace('Z', '+00:00') }),
    message: 'Invalid field value: Invalid timestamp format',
    twin: () => server({ timestamp: ts() }),
  },
  {
    cause: 'timestamp as epoch milliseconds',
    bad: () => client({ timestamp: Date.now() }),
    message: 'Invalid field value: Invalid timestamp format',
    twin: () => client({ timestamp: ts() }),
  },
  {
    cause: 'timestamp older than 7 days',
    bad: () => client({ timestamp: ts(-7 * DAY - 60 * 60_000) }),
    message: 'Report is too old',
    twin: () => client({ timestamp: ts(-7 * DAY + 60 * 60_000) }),
  },
  {
    cause: 'timestamp more than 5 minutes ahead',
    bad: () => server({ timestamp: ts(10 * 60_000) }),
    message: 'Invalid field value: timestamp is more than 5 minutes in the future',
    twin: () => server({ timestamp: ts(2 * 60_000) }),
  },
  {
    cause: 'correlationId over 100 characters',
    bad: () => client({ correlationId: 'x'.repeat(101) }),
    message: 'Invalid correlationId format',
    twin: () => client({ correlationId: 'x'.repeat(100) }),
  },
  {
    cause: 'correlationId outside its pattern',
    bad: () => client({ correlationId: 'journey?id=1' }),
    message: 'Invalid correlationId format',
    twin: () => client({ correlationId: "journey-1 /a:b_c.d'e,f" }),
  },
  {
    cause: 'correlationId on a SERVER report: in ServerReportRequest, so allowed, but held to its pattern',
    bad: () => server({ correlationId: 'x'.repeat(101) }),
    message: 'Invalid correlationId format',
    twin: () => server({ correlationId: 'journey-1' }),
  },
  {
    cause: 'unlisted endpoint (a concrete path instead of the template)',
    bad: () => client({ endpoint: '/open-banking/accounts/v2/accounts/123/balances' }),
    message: 'Unlisted endpoint: /open-banking/accounts/v2/accounts/123/balances',
    twin: () => client({ endpoint: '/open-banking/accounts/v2/accounts/{accountId}/balances' }),
  },
  {
    cause: 'unlisted endpoint (an opendata endpoint on the private API)',
    bad: () => server({ endpoint: '/open-banking/channels/v2/branches' }),
    message: 'Unlisted endpoint: /open-banking/channels/v2/branches',
    twin: () => server({ endpoint: '/token' }),
  },
  {
    cause: 'endpointUriPrefix outside its pattern',
    bad: () => client({ endpointUriPrefix: 'https://bank.example.com/x?y=1' }),
    message: 'Invalid field value: endpointUriPrefix',
    twin: () => client({ endpointUriPrefix: 'https://oauth2.cartaodummy.opf.instituicao/as/token.oauth2' }),
  },
  {
    cause: 'additionalInfo a string',
    bad: () => client({ additionalInfo: 'consentId=1' }),
    message: 'Invalid type: additionalInfo: Expected object, received string',
    // GET /register has no required key, so {} is accepted there (GET accounts needs consentId: see below).
    twin: () => client({ endpoint: '/register', additionalInfo: {} }),
  },
  {
    cause: 'additionalInfo an array',
    bad: () => server({ additionalInfo: [] }),
    message: 'Invalid type: additionalInfo: Expected object, received array',
    twin: () => server({ additionalInfo: {} }),
  },
  {
    cause: 'an additionalInfo value that is not a string ("webhookEnable … Expected string, received boolean")',
    bad: () => client({ endpoint: '/register', httpMethod: 'POST', additionalInfo: { webhookEnable: true } }),
    message: 'Invalid type: additionalInfo.webhookEnable: Expected string, received boolean',
    twin: () => client({ endpoint: '/register', httpMethod: 'POST', additionalInfo: { webhookEnable: 'TRUE' } }),
  },
  {
    cause: 'dropReason outside its domain',
    bad: () => server({ additionalInfo: { dropReason: 'MAYBE' } }),
    message: "Invalid enum value. Expected 'NONE' | 'NO_CREDENTIAL' | 'NO_AUTHORITY' | 'NO_AUTHORITY_PERSON_MISMATCH' | 'CREDENTIAL_UNAVAILABLE', received 'MAYBE'",
    twin: () => server({ additionalInfo: { dropReason: 'NO_CREDENTIAL' } }),
  },
  {
    cause: 'grantType in lower case (the OAuth value, not the PCM enum)',
    bad: () => client({ endpoint: '/token', httpMethod: 'POST', additionalInfo: { grantType: 'client_credentials' } }),
    message: "Invalid enum value. Expected 'AUTHORIZATION_CODE' | 'CLIENT_CREDENTIALS' | 'REFRESH_TOKEN', received 'client_credentials'",
    twin: () => client({ endpoint: '/token', httpMethod: 'POST', additionalInfo: { grantType: 'CLIENT_CREDENTIALS' } }),
  },
  {
    cause: 'several causes at once, joined by "; "',
    bad: () => client({ statusCode: 600, httpMethod: 'HEAD' }),
    message: `Invalid field value: statusCode must be between 200 and 599; ${METHODS} 'HEAD'`,
    twin: () => client({ statusCode: 500, httpMethod: 'PUT' }),
  },
  { cause: 'an item that is not an object', bad: () => 'report', message: 'Invalid payload format: item must be an object', twin: () => client() },
  {
    // Without clientIp but with another key it is ACCEPTED with a quality finding (test/emulator/quality.test.ts).
    cause: 'opendata with an empty additionalInfo',
    stream: 'opendata',
    bad: () => opendataReport({ additionalInfo: {} }),
    message: 'additionalInfo should not be empty',
    twin: () => opendataReport({ additionalInfo: { clientIp: '2001:db8::1' } }),
  },
  {
    cause: 'opendata additionalInfo not an object',
    stream: 'opendata',
    bad: () => opendataReport({ additionalInfo: '192.168.10.11' }),
    message: 'Invalid type: additionalInfo: Expected object, received string',
    twin: () => opendataReport(),
  },
  {
    cause: 'opendata missing field (quoted, as the opendata examples of the OpenAPI)',
    stream: 'opendata',
    bad: () => without(opendataReport(), 'httpMethod'),
    message: "Missing fields: 'httpMethod'",
    twin: () => opendataReport({ httpMethod: 'POST' }),
  },
  {
    cause: 'opendata with a private-report key',
    stream: 'opendata',
    bad: () => opendataReport({ fapiInteractionId: randomUUID() }),
    message: "Invalid format: : Unrecognized key(s) in object: 'fapiInteractionId'",
    twin: () => opendataReport(),
  },
  {
    cause: 'opendata with a private endpoint',
    stream: 'opendata',
    bad: () => opendataReport({ endpoint: '/open-banking/accounts/v2/accounts' }),
    message: 'Unlisted endpoint: /open-banking/accounts/v2/accounts',
    twin: () => opendataReport({ endpoint: '/open-banking/opendata-financings/v1/business-financings' }),
  },
  {
    cause: 'opendata timestamp older than 7 days',
    stream: 'opendata',
    bad: () => opendataReport({ timestamp: ts(-8 * DAY) }),
    message: 'Report is too old',
    twin: () => opendataReport({ timestamp: ts(-6 * DAY) }),
  },
  ...NEWER_DISCARDS,
];

describe('the same causes through src/emulator/validate.ts directly: same message, no quality findings on a discard', () => {
  const endpoints = loadAcceptedEndpoints();
  it.each(DISCARDS.map((c) => [c.cause, c] as const))('%s', (_cause, c) => {
    const [check, legacy] = c.stream === 'opendata' ? [checkOpendataReport, opendataDiscardReason] : [checkReport, discardReason];
    const bad = c.bad();
    const twin = c.twin();
    const context = { now: Date.now(), endpoints };
    expect(check(bad, context)).toEqual({ discard: c.message, quality: [] });
    expect(legacy(bad, context)).toBe(c.message);
    expect(check(twin, context).discard).toBeNull();
    expect(legacy(twin, context)).toBeNull();
  });
});

/** The organisation whose token sends `item`: the reporter of a private report; anyone for opendata. */
function reporterOf(item: unknown): string {
  if (item === null || typeof item !== 'object') return BV;
  const r = item as Item;
  return r.role === 'SERVER' ? CAIXA : BV;
}

describe('DISCARDED, one cause at a time: exact message, 207, and an accepted twin', () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki);
  });
  afterAll(async () => h.close());

  it.each(DISCARDS.map((c) => [c.cause, c] as const))('%s', async (_cause, c) => {
    const path = c.stream === 'opendata' ? OPENDATA : PRIVATE;
    const bad = c.bad();
    const twin = c.twin();
    const refused = await h.send(reporterOf(bad), [bad], path);
    expect(refused.status).toBe(207);
    expect(refused.body).toEqual([expect.objectContaining({ reportId: expect.stringMatching(UUID), status: 'DISCARDED', message: c.message })]);
    const accepted = await h.send(reporterOf(twin), [twin], path);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(accepted.body).toEqual([expect.objectContaining({ status: 'ACCEPTED' })]);
    expect(accepted.body[0]).not.toHaveProperty('message');
    // The DISCARDED report is stored with its message (pcm-rules.md §9.2: persisted but unusable).
    const stored = await h.reports({ status: 'DISCARDED', _offset: 0, _limit: 100_000 });
    expect(stored.data.find((r) => r.reportId === refused.body[0]!.reportId)).toMatchObject({ status: 'DISCARDED', message: c.message });
  });

  it('answers in request order: a batch mixing accepted and discarded items gets 207 with one result per item', async () => {
    const items = [client(), client({ httpMethod: 'HEAD' }), client(), without(client(), 'timestamp')];
    const res = await h.send(BV, items);
    expect(res.status).toBe(207);
    expect(res.body.map((r: ReportResult) => [r.status, r.message])).toEqual([
      ['ACCEPTED', undefined],
      ['DISCARDED', `${METHODS} 'HEAD'`],
      ['ACCEPTED', undefined],
      ['DISCARDED', 'Missing fields: timestamp'],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 7. Pairing, visibility, inspection, reset and state across restarts (pcm-rules.md §9)
// ---------------------------------------------------------------------------------------------------------------

describe('reconciliation and its lifecycle', () => {
  let h: EmulatorHarness;
  beforeAll(async () => {
    h = await EmulatorHarness.start(pki);
  });
  afterAll(async () => h.close());

  it('a late counterpart turns UNPAIRED into PAIRED (either side first)', async () => {
    for (const first of ['CLIENT', 'SERVER'] as const) {
      const c = clientReport(BV, CAIXA);
      const s = serverReport(c);
      const [early, earlyOrg, late, lateOrg] = first === 'CLIENT' ? [c, BV, s, CAIXA] : [s, CAIXA, c, BV];
      const a = await h.send(earlyOrg, [early]);
      h.emulator.reconcile();
      const unpaired = (await h.byId(earlyOrg, c.fapiInteractionId as string)).body;
      expect(unpaired).toMatchObject({ reportId: a.body[0]!.reportId, status: 'UNPAIRED', pairedReportId: null });

      const b = await h.send(lateOrg, [late]);
      expect((await h.byId(lateOrg, c.fapiInteractionId as string)).body).toMatchObject({ status: 'ACCEPTED' });
      // Through the HTTP control route this time.
      const run = await h.call<{ changed: number }>('/emulator/reconcile', {});
      expect(run.status).toBe(200);
      expect(run.body.changed).toBeGreaterThanOrEqual(2);
      const paired = (await h.byId(earlyOrg, c.fapiInteractionId as string)).body;
      expect(paired).toMatchObject({ reportId: a.body[0]!.reportId, status: 'PAIRED', pairedReportId: b.body[0]!.reportId });
      expect(Date.parse(paired.updatedAt)).toBeGreaterThanOrEqual(Date.parse(unpaired.updatedAt));
      expect((await h.byId(lateOrg, c.fapiInteractionId as string)).body).toMatchObject({ status: 'PAIRED', pairedReportId: a.body[0]!.reportId });
    }
  });

  it('every consistency field of §9.1 that differs is named in PAIRED_INCONSISTENT', async () => {
    const c = clientReport(BV, CAIXA);
    await h.send(BV, [c]);
    await h.send(CAIXA, [serverReport(c, { httpMethod: 'POST', endpoint: '/open-banking/accounts/v2/accounts/{accountId}' })]);
    h.emulator.reconcile();
    expect((await h.byId(BV, c.fapiInteractionId as string)).body).toMatchObject({
      status: 'PAIRED_INCONSISTENT',
      message: 'Inconsistent fields: httpMethod, endpoint',
    });
  });

  it('opendata reports, security-endpoint reports and client timeouts become SINGLE; other lone reports UNPAIRED', async () => {
    const od = await h.send(GERENCIANET, [opendataReport()], OPENDATA);
    const token = clientReport(BV, CAIXA, { endpoint: '/token', endpointUriPrefix: 'https://auth.caixa.example.com.br/as/token.oauth2' });
    const timeout = clientReport(BV, CAIXA, { statusCode: 408 });
    const lone = clientReport(BV, CAIXA);
    const sent = await h.send(BV, [token, timeout, lone]);
    expect(sent.status).toBe(200);
    h.emulator.reconcile();
    const stored = new Map((await h.reports({ _limit: 100_000 })).data.map((r) => [r.reportId, r.status]));
    expect(stored.get(od.body[0]!.reportId)).toBe('SINGLE');
    expect(sent.body.map((r) => stored.get(r.reportId))).toEqual(['SINGLE', 'SINGLE', 'UNPAIRED']);
  });

  it('GET by fapiInteractionId: own report first, a party sees the other side, a third organisation gets 404', async () => {
    const c = clientReport(BV, CAIXA);
    const sent = await h.send(BV, [c]);
    const fapi = c.fapiInteractionId as string;
    expect((await h.byId(BV, fapi)).body.reportId).toBe(sent.body[0]!.reportId);
    // Caixa has not reported, but it is the serverOrgId of BV's report.
    expect((await h.byId(CAIXA, fapi)).body.reportId).toBe(sent.body[0]!.reportId);
    expect((await h.byId(BANRISUL, fapi)).status).toBe(404);
    expect((await h.byId(BV, fapi.toUpperCase())).status).toBe(200);
    expect((await h.byId(BV, randomUUID())).status).toBe(404);
    expect((await h.call(`${PRIVATE}/${fapi}`)).status).toBe(401);
  });

  it('the background pass pairs on its own after pairingDelayMs (bounded wait)', async () => {
    const quick = await EmulatorHarness.start(pki, { pairingDelayMs: 50 });
    try {
      const c = clientReport(BV, CAIXA);
      await quick.send(BV, [c]);
      await quick.send(CAIXA, [serverReport(c)]);
      const model = await eventually(async () => {
        const m = (await quick.byId(BV, c.fapiInteractionId as string)).body;
        return m.status === 'PAIRED' ? m : undefined;
      }, 10_000, 50);
      expect(model.pairedReportId).toMatch(UUID);
    } finally {
      await quick.close();
    }
  });
});

describe('/emulator/reports filters, reset, and state that survives a restart', () => {
  it('filters by fapiInteractionId, status, role, stream and senderOrgId, and pages with _offset/_limit', async () => {
    const h = await EmulatorHarness.start(pki);
    try {
      const paired = clientReport(BV, CAIXA);
      const lone = clientReport(BV, CAIXA);
      await h.send(BV, [paired, lone]);
      await h.send(CAIXA, [serverReport(paired)]);
      await h.send(BANRISUL, [opendataReport()], OPENDATA);
      await h.send(GERENCIANET, [clientReport(GERENCIANET, BV, { httpMethod: 'OPTIONS' })]);
      h.emulator.reconcile();

      const all = await h.reports();
      expect(all.meta).toEqual({ totalRecords: 5, offset: 0, limit: 100 });
      const count = async (q: Record<string, string | number>) => (await h.reports(q)).meta.totalRecords;
      const fapi = paired.fapiInteractionId as string;
      expect((await h.reports({ fapiInteractionId: fapi })).data.map((r) => r.report.role).sort()).toEqual(['CLIENT', 'SERVER']);
      expect(await count({ fapiInteractionId: fapi.toUpperCase() })).toBe(2);
      expect(await count({ status: 'PAIRED' })).toBe(2);
      expect(await count({ status: 'UNPAIRED' })).toBe(1);
      expect(await count({ status: 'SINGLE' })).toBe(1);
      expect(await count({ status: 'DISCARDED' })).toBe(1);
      expect(await count({ role: 'SERVER' })).toBe(1);
      expect(await count({ role: 'CLIENT' })).toBe(3);
      expect(await count({ stream: 'opendata' })).toBe(1);
      expect(await count({ stream: 'private' })).toBe(4);
      expect(await count({ senderOrgId: BV })).toBe(2);
      expect(await count({ senderOrgId: BV.toUpperCase() })).toBe(2);
      expect(await count({ senderOrgId: BANRISUL, stream: 'opendata', status: 'SINGLE' })).toBe(1);
      expect(await count({ senderOrgId: BANRISUL, stream: 'private' })).toBe(0);

      const pages = [];
      for (let offset = 0; offset < 5; offset += 2) {
        const page = await h.reports({ _offset: offset, _limit: 2 });
        expect(page.meta).toEqual({ totalRecords: 5, offset, limit: 2 });
        pages.push(...page.data.map((r) => r.reportId));
      }
      expect(pages).toEqual(all.data.map((r) => r.reportId));
      expect((await h.reports({ _offset: 5 })).data).toEqual([]);
      const gerencianet = (await h.reports({ senderOrgId: GERENCIANET })).data[0]!;
      expect(gerencianet).toMatchObject({ stream: 'private', status: 'DISCARDED', senderOrgId: GERENCIANET, pairedReportId: null });
      expect(gerencianet.message).toBe("Invalid enum value. Expected 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', received 'OPTIONS'");
    } finally {
      await h.close();
    }
  });

  it('POST /emulator/reset empties the reports, the statistics and the tokens', async () => {
    const h = await EmulatorHarness.start(pki);
    try {
      const c = clientReport(BV, CAIXA);
      await h.send(BV, [c]);
      const oldToken = await h.token(BV);
      expect((await h.reports()).meta.totalRecords).toBe(1);
      expect(await h.call('/emulator/reset', {})).toMatchObject({ status: 200, body: { reset: true } });
      expect((await h.reports()).meta.totalRecords).toBe(0);
      const stats = await h.call<{ statuses: Record<string, number>; distinctFapiInteractionIds: number; requests: Record<string, unknown> }>('/emulator/stats');
      expect(stats.body.statuses).toEqual({});
      expect(stats.body.distinctFapiInteractionIds).toBe(0);
      // Only the control calls made since the reset are counted.
      expect(Object.keys(stats.body.requests).filter((route) => route.includes('/report-api/'))).toEqual([]);
      expect((await h.call(PRIVATE, [clientReport(BV, CAIXA)], { token: oldToken })).status).toBe(401);
      h.forgetTokens();
      expect((await h.byId(BV, c.fapiInteractionId as string)).status).toBe(404);
      expect((await h.send(BV, [clientReport(BV, CAIXA)])).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  it('with stateFile, a new emulator on the same file has the reports, their statuses and pairings, and keeps reconciling', async () => {
    const dir = await tempDir('emulator-state');
    const stateFile = join(dir, 'pcm-state.db');
    const paired = clientReport(BV, CAIXA);
    const waiting = clientReport(BV, CAIXA);
    const discarded = clientReport(BV, CAIXA, { statusCode: 99 });
    const before: Record<string, ReportModel> = {};
    const first = await EmulatorHarness.start(pki, { stateFile });
    try {
      await first.send(BV, [paired, waiting, discarded]);
      await first.send(CAIXA, [serverReport(paired)]);
      first.emulator.reconcile();
      for (const r of [paired, waiting, discarded]) before[r.fapiInteractionId as string] = (await first.byId(BV, r.fapiInteractionId as string)).body;
    } finally {
      await first.close();
    }
    expect(Object.values(before).map((m) => m.status)).toEqual(['PAIRED', 'UNPAIRED', 'DISCARDED']);

    const second = await EmulatorHarness.start(pki, { stateFile });
    try {
      for (const [fapi, model] of Object.entries(before)) expect((await second.byId(BV, fapi)).body).toEqual(model);
      expect((await second.reports()).meta.totalRecords).toBe(4);
      expect(second.emulator.snapshot().statuses).toEqual({ PAIRED: 2, UNPAIRED: 1, DISCARDED: 1 });
      // Not only readable: the waiting report still pairs with a counterpart that arrives after the restart.
      const late = await second.send(CAIXA, [serverReport(waiting)]);
      second.emulator.reconcile();
      expect((await second.byId(BV, waiting.fapiInteractionId as string)).body).toMatchObject({ status: 'PAIRED', pairedReportId: late.body[0]!.reportId });
    } finally {
      await second.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
