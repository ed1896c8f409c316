import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromEnvoy, ENVOY_LOG_KEYS } from '../../src/ingest/gateways/envoy.js';
import { fromKong } from '../../src/ingest/gateways/kong.js';
import { orgIdFromSubject } from '../../src/ingest/gateways/common.js';
import { interactionOf, problemsOf, deploy } from '../helpers/mappings.js';

/**
 * Gateway payload → RawInteraction. The Kong samples follow the Kong 3.x log format (`kong.log.serialize()` in
 * kong/pdk/log.lua; the sample object under "Log format" on developer.konghq.com/plugins/http-log/), with the `pcm`
 * object that deploy/gateways/kong/kong.yml adds through custom_fields_by_lua. The Envoy samples are lines of the
 * access log format in deploy/gateways/envoy (command operators per Envoy's access_log/usage docs): some rendered
 * the typed way (numbers, null), some the string way ("-" for unset), as Envoy versions differ.
 */

const CLIENT_ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e'; // banco-cliente
const SERVER_ORG = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87'; // banco-servidor
const CLIENT_SSID = '5f3c8a0e-2b7d-4c19-9e6a-0d4b1f2a3c57';

type Json = Record<string, unknown>;

function kong(name: string): Json {
  return JSON.parse(readFileSync(new URL(`../fixtures/kong/${name}.json`, import.meta.url), 'utf8')) as Json;
}

/** One Envoy access log line, exactly as written to the file (one JSON object per line). */
function envoy(name: string): Json {
  const text = readFileSync(new URL(`../fixtures/envoy/${name}.jsonl`, import.meta.url), 'utf8');
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] as string) as Json;
}

function withPcm(payload: Json, pcm: Json): Json {
  return { ...payload, pcm: { ...(payload.pcm as Json), ...pcm } };
}

describe('Kong http-log payloads', () => {
  it('SERVER: the URL the caller asked for (with its /opbk prefix), the whole request time, the caller from pcm.counterpartyOrgId', () => {
    expect(interactionOf(fromKong(kong('server-accounts-balances'), {}))).toEqual({
      role: 'SERVER',
      method: 'GET',
      url: 'https://api.banco-servidor.com.br:8443/opbk/open-banking/accounts/v2/accounts/123/balances',
      status: 200,
      timedOut: false,
      startTime: 1767873600123,
      durationMs: 88,
      fapiInteractionId: 'd9b1d6a4-5c0e-4f55-8f2f-7d3b0b9c1e21',
      counterpartyOrgId: CLIENT_ORG,
    });
  });

  it('CLIENT: the upstream URL (service + upstream_uri), time to the upstream response (latencies.proxy), and every pcm field', () => {
    expect(interactionOf(fromKong(kong('client-accounts-balances'), {}))).toEqual({
      role: 'CLIENT',
      method: 'GET',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/accounts/v2/accounts/123/balances',
      status: 200,
      timedOut: false,
      startTime: 1767873600098,
      durationMs: 112,
      fapiInteractionId: 'd9b1d6a4-5c0e-4f55-8f2f-7d3b0b9c1e21',
      counterpartyOrgId: SERVER_ORG,
      orgId: CLIENT_ORG,
      clientSSId: CLIENT_SSID,
      correlationId: 'jornada-agregacao-7f3a',
      additionalInfo: { consentId: 'urn:bancoservidor:C1DD93123', tokenId: 'c9ng8aKzxNXm' },
    });
  });

  it('CLIENT timeout: Kong gave up on the upstream (504 from Kong after 15 s) → timedOut, duration = the wait', () => {
    expect(interactionOf(fromKong(kong('client-timeout-pix-payment'), {}))).toEqual({
      role: 'CLIENT',
      method: 'POST',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/payments/v4/pix/payments',
      status: 504,
      timedOut: true,
      startTime: 1767874500456,
      durationMs: 15001,
      fapiInteractionId: 'a4e8c1d2-7b36-4f09-9c5e-2d8f1b6a7e40',
      counterpartyOrgId: SERVER_ORG,
      orgId: CLIENT_ORG,
      clientSSId: CLIENT_SSID,
      additionalInfo: { consentId: 'urn:bancoservidor:P7A1C2E3', tokenId: 'Qm9sZXRvMTIz', authorisationFlow: 'HYBRID_FLOW', paymentType: 'IMMEDIATE' },
    });
  });

  it('no x-fapi-interaction-id in the request: the one the server generated, from the response headers', () => {
    expect(interactionOf(fromKong(kong('server-generated-fapi-consent'), {}))).toEqual({
      role: 'SERVER',
      method: 'POST',
      url: 'https://api.banco-servidor.com.br:8443/opbk/open-banking/consents/v3/consents',
      status: 201,
      timedOut: false,
      startTime: 1767874200789,
      durationMs: 143,
      fapiInteractionId: '3f6c2b8e-9a41-4d7c-b0e5-61a2c4f8d903',
      counterpartyOrgId: CLIENT_ORG,
      additionalInfo: { dropReason: 'NONE' },
    });
  });

  it('no x-fapi-interaction-id anywhere: a problem naming the request header', () => {
    expect(problemsOf(fromKong(kong('malformed-no-fapi'), {}))).toEqual([
      { field: 'request.headers.x-fapi-interaction-id', rule: 'required' },
    ]);
  });

  it('no counterparty: a problem naming pcm.counterpartyOrgId', () => {
    const result = fromKong(kong('malformed-no-counterparty'), {});
    expect(problemsOf(result)).toEqual([{ field: 'pcm.counterpartyOrgId', rule: 'required' }]);
    expect(result.ok ? '' : result.problems[0]?.message).toMatch(/^Missing fields: pcm\.counterpartyOrgId/);
  });

  it('the role comes from pcm.role, else from the option; neither is a problem, and a bad value is one even with the option', () => {
    const payload = kong('server-accounts-balances');
    const { role: _role, ...pcm } = payload.pcm as Json;
    const withoutRole = { ...payload, pcm };
    expect(interactionOf(fromKong(withoutRole, { role: 'SERVER' })).role).toBe('SERVER');
    expect(interactionOf(fromKong(payload, { role: 'CLIENT' })).role).toBe('SERVER'); // the payload's own value wins
    expect(problemsOf(fromKong(withoutRole, {}))).toEqual([{ field: 'pcm.role', rule: 'required' }]);
    expect(problemsOf(fromKong(withPcm(payload, { role: 'PROXY' }), { role: 'SERVER' }))).toEqual([{ field: 'pcm.role', rule: 'enum' }]);
    expect(interactionOf(fromKong(withPcm(payload, { role: 'server' }), {})).role).toBe('SERVER');
  });

  it('a flat "pcm.role" key (a serializer that did not nest dotted keys) is read too', () => {
    const { pcm, ...rest } = kong('server-accounts-balances');
    const flat = { ...rest, 'pcm.role': 'SERVER', 'pcm.counterpartyOrgId': (pcm as Json).counterpartyOrgId };
    expect(interactionOf(fromKong(flat, {})).counterpartyOrgId).toBe(CLIENT_ORG);
  });

  describe('timeouts', () => {
    const timeout = kong('client-timeout-pix-payment');

    it('before Kong 3.6 (no `source`): a 504 after ≥ 15 s of waiting is a timeout', () => {
      const { source: _source, ...old } = timeout;
      expect(interactionOf(fromKong(old, {})).timedOut).toBe(true);
    });

    it("a 504 the other participant sent itself, quickly, is just a 504", () => {
      const upstream504 = { ...timeout, source: 'upstream', latencies: { kong: 1, proxy: 2300, request: 2302, receive: 0 } };
      expect(interactionOf(fromKong(upstream504, {}))).toMatchObject({ status: 504, timedOut: false, durationMs: 2300 });
    });

    it('the calling application gave up (499) → timedOut, duration = how long it waited', () => {
      const gaveUp = { ...timeout, source: 'kong', response: { status: 499, headers: {} }, latencies: { kong: 2, proxy: -1, request: 9000, receive: 0 } };
      expect(interactionOf(fromKong(gaveUp, {}))).toMatchObject({ status: 499, timedOut: true, durationMs: 9000 });
    });

    it('SERVER: a 504 Kong answered because our own backend was slow is what the caller got, not a timeout', () => {
      const server = kong('server-accounts-balances');
      const slowBackend = { ...server, source: 'kong', response: { status: 504, headers: {} }, latencies: { kong: 3, proxy: 14000, request: 14004, receive: 0 } };
      expect(interactionOf(fromKong(slowBackend, {}))).toMatchObject({ status: 504, timedOut: false, durationMs: 14004 });
    });
  });

  it('CLIENT call Kong answered itself (latencies.proxy -1): never reached the other participant, nothing to report', () => {
    const local = { ...kong('client-accounts-balances'), source: 'kong', response: { status: 429, headers: {} }, latencies: { kong: 1, proxy: -1, request: 1, receive: 0 } };
    expect(problemsOf(fromKong(local, {}))).toEqual([{ field: 'latencies.proxy', rule: 'not_proxied' }]);
  });

  it('repeated headers (arrays) and header names in any case', () => {
    const payload = kong('server-accounts-balances');
    const request = payload.request as Json;
    const headers = { ...(request.headers as Json) };
    delete headers['x-fapi-interaction-id'];
    headers['X-FAPI-Interaction-ID'] = ['d9b1d6a4-5c0e-4f55-8f2f-7d3b0b9c1e21', 'ignored'];
    const mapped = interactionOf(fromKong({ ...payload, request: { ...request, headers } }, {}));
    expect(mapped.fapiInteractionId).toBe('d9b1d6a4-5c0e-4f55-8f2f-7d3b0b9c1e21');
  });

  it('pcm.url overrides the rebuilt URL; a CLIENT service on a non-default port keeps it', () => {
    const client = kong('client-accounts-balances');
    expect(interactionOf(fromKong(withPcm(client, { url: 'https://x.example/opbk/open-banking/a' }), {})).url).toBe('https://x.example/opbk/open-banking/a');
    const onPort = { ...client, service: { ...(client.service as Json), port: 8443 } };
    expect(interactionOf(fromKong(onPort, {})).url).toBe('https://api.banco-servidor.com.br:8443/opbk/open-banking/accounts/v2/accounts/123/balances');
  });

  it('an empty additionalInfo (an empty Lua table, written as {} or []) is absent; a bad one is a problem', () => {
    const client = kong('client-accounts-balances');
    expect(interactionOf(fromKong(withPcm(client, { additionalInfo: [] }), {})).additionalInfo).toBeUndefined();
    expect(interactionOf(fromKong(withPcm(client, { additionalInfo: {} }), {})).additionalInfo).toBeUndefined();
    expect(problemsOf(fromKong(withPcm(client, { additionalInfo: 'consentId=1' }), {}))).toEqual([{ field: 'pcm.additionalInfo', rule: 'type' }]);
  });

  it('every missing basic field is named, all at once', () => {
    expect(problemsOf(fromKong({ pcm: { role: 'CLIENT' } }, {}))).toEqual([
      { field: 'request.method', rule: 'required' },
      { field: 'response.status', rule: 'required' },
      { field: 'started_at', rule: 'required' },
      { field: 'request.headers.x-fapi-interaction-id', rule: 'required' },
      { field: 'pcm.counterpartyOrgId', rule: 'required' },
      { field: 'service.protocol', rule: 'required' },
      { field: 'service.host', rule: 'required' },
      { field: 'upstream_uri', rule: 'required' },
      { field: 'latencies.proxy', rule: 'not_proxied' },
    ]);
    expect(problemsOf(fromKong([kong('client-accounts-balances')], {}))).toEqual([{ field: '(payload)', rule: 'type' }]);
  });
});

describe('Envoy/Istio JSON access log lines', () => {
  it('SERVER (typed JSON): the original path on the authority called, %DURATION%, the caller from its certificate OU', () => {
    expect(interactionOf(fromEnvoy(envoy('server-accounts-balances'), {}))).toEqual({
      role: 'SERVER',
      method: 'GET',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/accounts/v2/accounts/123/balances',
      status: 200,
      timedOut: false,
      startTime: '2026-01-08T12:00:00.123Z',
      durationMs: 88,
      fapiInteractionId: 'e7c4a912-3f5b-4d8e-a1c6-9b2d0f4e7a35',
      counterpartyOrgId: CLIENT_ORG,
    });
  });

  it('CLIENT (string JSON, "-" for unset): https because the upstream used TLS, %RESPONSE_DURATION%, the x-pcm-* headers', () => {
    expect(interactionOf(fromEnvoy(envoy('client-accounts-balances'), {}))).toEqual({
      role: 'CLIENT',
      method: 'GET',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/accounts/v2/accounts/123/balances',
      status: 200,
      timedOut: false,
      startTime: '2026-01-08T12:00:00.098Z',
      durationMs: 112,
      fapiInteractionId: 'e7c4a912-3f5b-4d8e-a1c6-9b2d0f4e7a35',
      counterpartyOrgId: SERVER_ORG,
      correlationId: 'jornada-agregacao-7f3a',
      additionalInfo: { consentId: 'urn:bancoservidor:C1DD93123', tokenId: 'c9ng8aKzxNXm' },
    });
  });

  it('CLIENT timeout: UT (upstream request timeout, 504) → timedOut, duration = %DURATION% (no upstream byte)', () => {
    expect(interactionOf(fromEnvoy(envoy('client-timeout-pix-payment'), {}))).toEqual({
      role: 'CLIENT',
      method: 'POST',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/payments/v4/pix/payments',
      status: 504,
      timedOut: true,
      startTime: '2026-01-08T12:15:00.456Z',
      durationMs: 15002,
      fapiInteractionId: '91d3f6b8-4a2c-4e7d-8f1b-3c5a7e9d0b24',
      counterpartyOrgId: SERVER_ORG,
      additionalInfo: { consentId: 'urn:bancoservidor:P7A1C2E3', tokenId: 'Qm9sZXRvMTIz', authorisationFlow: 'HYBRID_FLOW', paymentType: 'IMMEDIATE' },
    });
  });

  it('no x-fapi-interaction-id in the request: the server-generated one from the response', () => {
    expect(interactionOf(fromEnvoy(envoy('server-generated-fapi-consent'), {}))).toEqual({
      role: 'SERVER',
      method: 'POST',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/consents/v3/consents',
      status: 201,
      timedOut: false,
      startTime: '2026-01-08T12:10:00.789Z',
      durationMs: 143,
      fapiInteractionId: '8c2a4e6f-1b3d-4f5a-9c7e-0d2b4f6a8c1e',
      counterpartyOrgId: CLIENT_ORG,
      additionalInfo: { dropReason: 'NONE' },
    });
  });

  it('no x-fapi-interaction-id anywhere: a problem naming fapi_interaction_id', () => {
    expect(problemsOf(fromEnvoy(envoy('malformed-no-fapi'), {}))).toEqual([{ field: 'fapi_interaction_id', rule: 'required' }]);
  });

  it('no counterparty (no header, no UUID OU in the certificate): a problem naming pcm_counterparty_org_id', () => {
    const result = fromEnvoy(envoy('malformed-no-counterparty'), {});
    expect(problemsOf(result)).toEqual([{ field: 'pcm_counterparty_org_id', rule: 'required' }]);
    expect(result.ok ? '' : result.problems[0]?.message).toContain('downstream_peer_subject');
  });

  it('the role from pcm_role, else the option; "-" counts as absent', () => {
    const line = { ...envoy('server-accounts-balances'), pcm_role: '-' };
    expect(interactionOf(fromEnvoy(line, { role: 'SERVER' })).role).toBe('SERVER');
    expect(problemsOf(fromEnvoy(line, {}))).toEqual([{ field: 'pcm_role', rule: 'required' }]);
  });

  it('CLIENT without the header: the organisationId (OU) of the server certificate on the upstream connection', () => {
    const line = { ...envoy('client-accounts-balances'), pcm_counterparty_org_id: '-' };
    expect(interactionOf(fromEnvoy(line, {})).counterpartyOrgId).toBe(SERVER_ORG);
  });

  describe('timeouts and local answers', () => {
    it('the caller went away before any response (RESPONSE_CODE 0, DC) → timedOut, no status', () => {
      const line = { ...envoy('server-accounts-balances'), response_code: 0, response_flags: 'DC', duration: 15000, response_duration: null };
      const mapped = interactionOf(fromEnvoy(line, {}));
      expect(mapped).toMatchObject({ timedOut: true, durationMs: 15000 });
      expect(mapped.status).toBeUndefined();
    });

    it('SERVER: UT (our backend timed out, the caller got a 504) stays a 504', () => {
      const line = { ...envoy('server-accounts-balances'), response_code: 504, response_flags: 'UT', duration: 14001, response_duration: null };
      expect(interactionOf(fromEnvoy(line, {}))).toMatchObject({ status: 504, timedOut: false, durationMs: 14001 });
    });

    it('CLIENT: a 504 from the other participant after ≥ 15 s is a timeout; a quick one is not', () => {
      const base = envoy('client-accounts-balances');
      expect(interactionOf(fromEnvoy({ ...base, response_code: '504', response_duration: '15010' }, {})).timedOut).toBe(true);
      expect(interactionOf(fromEnvoy({ ...base, response_code: '504', response_duration: '900' }, {})).timedOut).toBe(false);
    });

    it('CLIENT: Envoy answered locally (no healthy upstream) → nothing to report; an upstream connection failure is reported', () => {
      const base = envoy('client-timeout-pix-payment');
      expect(problemsOf(fromEnvoy({ ...base, response_code: 503, response_flags: 'UH' }, {}))).toEqual([{ field: 'response_flags', rule: 'not_proxied' }]);
      expect(interactionOf(fromEnvoy({ ...base, response_code: 503, response_flags: 'UF', duration: 30 }, {}))).toMatchObject({
        status: 503,
        timedOut: false,
        durationMs: 30,
      });
    });
  });

  it('numbers as strings and as numbers, bad ones named', () => {
    const line = envoy('server-accounts-balances');
    expect(interactionOf(fromEnvoy({ ...line, duration: '88', response_code: '200' }, {}))).toMatchObject({ durationMs: 88, status: 200 });
    expect(problemsOf(fromEnvoy({ ...line, duration: 'slow' }, {}))).toEqual([{ field: 'duration', rule: 'type' }]);
    expect(problemsOf(fromEnvoy({ ...line, response_code: '-', duration: '-' }, {}))).toEqual([
      { field: 'duration', rule: 'required' },
      { field: 'response_code', rule: 'required' },
    ]);
  });

  it('the fixtures use only keys of the shipped access log format', () => {
    const istio = deploy('envoy/istio-mesh-config.yaml');
    const plain = deploy('envoy/envoy-access-log.yaml');
    for (const name of ['server-accounts-balances', 'client-accounts-balances', 'client-timeout-pix-payment', 'server-generated-fapi-consent']) {
      for (const key of Object.keys(envoy(name))) {
        expect(istio, key).toMatch(new RegExp(`^\\s+${key}: `, 'm'));
        expect(plain, key).toMatch(new RegExp(`^\\s+${key}: `, 'm'));
      }
    }
    for (const [key, operator] of Object.entries(ENVOY_LOG_KEYS)) {
      if (!operator.startsWith('%')) continue;
      const first = operator.split(' ')[0] as string;
      expect(istio, key).toContain(`${key}: "${first}"`);
      expect(plain, key).toContain(`${key}: "${first}"`);
    }
  });
});

describe('certificate subjects', () => {
  it('the UUID OU of RFC 2253, OpenSSL and slash forms; nothing from a subject without one', () => {
    expect(orgIdFromSubject(`CN=tpp.example.com.br,OU=${CLIENT_ORG},O=Banco\\, S.A.,C=BR`)).toBe(CLIENT_ORG);
    expect(orgIdFromSubject(`C = BR, O = Banco, OU = ${CLIENT_ORG}, CN = tpp.example.com.br`)).toBe(CLIENT_ORG);
    expect(orgIdFromSubject(`/C=BR/O=Banco/OU=${CLIENT_ORG}/CN=tpp.example.com.br`)).toBe(CLIENT_ORG);
    expect(orgIdFromSubject(`CN=x,OU=Open Finance+OU=${SERVER_ORG},O=y`)).toBe(SERVER_ORG);
    expect(orgIdFromSubject(`CN=${SERVER_ORG},OU=Pagamentos,O=Banco`)).toBeUndefined();
    expect(orgIdFromSubject('')).toBeUndefined();
  });
});

describe('deploy samples point at the gateway routes', () => {
  it('kong.yml posts to /v1/gateways/kong and sets the pcm fields the mapping reads', () => {
    const yml = deploy('kong/kong.yml');
    expect(yml).toContain('http_endpoint: http://127.0.0.1:8431/v1/gateways/kong');
    for (const field of ['pcm.role', 'pcm.counterpartyOrgId', 'pcm.additionalInfo', 'pcm.correlationId', 'pcm.orgId', 'pcm.clientSSId']) {
      expect(yml).toMatch(new RegExp(`^\\s+${field.replace('.', '\\.')}: "`, 'm'));
    }
  });

  it('vector.yaml posts NDJSON to /v1/gateways/envoy', () => {
    const vector = deploy('envoy/vector.yaml');
    expect(vector).toContain('uri: http://127.0.0.1:8431/v1/gateways/envoy');
    expect(vector).toContain('method: newline_delimited');
  });
});
