import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { fromEnvoy } from '../../src/ingest/gateways/envoy.js';
import { createLogger } from '../../src/log.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { eventually, postJson } from '../helpers/http.js';
import { CLIENT_ORG, SERVER_ORG, tempDir, testPki } from '../helpers/pki.js';
import { startInProcessEmulator } from '../helpers/stack.js';
import { interactionOf, problemsOf } from '../helpers/mappings.js';
import { adminSection } from '../helpers/admin.js';

/**
 * Istio's stock JSON access log (meshConfig `accessLogEncoding: JSON`, no accessLogFormat): the labels of
 * EnvoyJSONLogFormatIstio in istio/pilot/pkg/model/telemetry_logging.go, rendered typed (numbers as numbers, null
 * when unset; `upstream_service_time` is the x-envoy-upstream-service-time header, so a string), plus the keys our
 * providers add (deploy/gateways/envoy/istio-mesh-config.yaml). Read by the existing route, /v1/gateways/envoy.
 */

type Line = Record<string, unknown>;

const CALLER_SUBJECT = `CN=tpp.banco-cliente.com.br,OU=${CLIENT_ORG},O=Banco Cliente S.A.,C=BR`;
const SERVER_SUBJECT = `CN=api.banco-servidor.com.br,OU=${SERVER_ORG},O=Banco Servidor S.A.,C=BR`;

/** The stock line of one call through the ingress gateway (the keys and order of Istio's default JSON format). */
function stockIngress(fapi: string, start = '2026-01-08T12:00:00.123Z'): Line {
  return {
    start_time: start,
    route_name: 'opbk-accounts',
    method: 'GET',
    path: '/opbk/open-banking/accounts/v2/accounts/123/balances',
    protocol: 'HTTP/1.1',
    response_code: 200,
    response_flags: '-',
    response_code_details: 'via_upstream',
    connection_termination_details: null,
    upstream_transport_failure_reason: null,
    bytes_received: 0,
    bytes_sent: 412,
    duration: 88,
    upstream_service_time: '84',
    x_forwarded_for: '200.185.19.9',
    user_agent: 'okhttp/4.12.0',
    request_id: '2b9d7f4e-1c3a-4e5b-8d6f-0a9c8b7e6d5f',
    authority: 'api.banco-servidor.com.br',
    upstream_host: '10.42.3.17:8080',
    upstream_cluster: 'outbound|8080||accounts-api.core.svc.cluster.local',
    upstream_local_address: '10.42.1.5:51234',
    downstream_local_address: '10.42.1.5:8443',
    downstream_remote_address: '200.185.19.9:53412',
    requested_server_name: 'api.banco-servidor.com.br',
    // deploy/gateways/envoy: the pcm-server provider adds these.
    ...{ fapi_interaction_id: fapi, fapi_interaction_id_response: fapi, pcm_role: 'SERVER', downstream_peer_subject: CALLER_SUBJECT, pcm_additional_info: null },
  };
}

/** The stock line of the same call leaving through the egress gateway (CLIENT), with the pcm-client provider's keys. */
function stockEgress(fapi: string, start = '2026-01-08T12:00:00.098Z'): Line {
  return {
    start_time: start,
    route_name: 'banco-servidor',
    method: 'GET',
    path: '/opbk/open-banking/accounts/v2/accounts/123/balances',
    protocol: 'HTTP/1.1',
    response_code: 200,
    response_flags: '-',
    response_code_details: 'via_upstream',
    connection_termination_details: null,
    upstream_transport_failure_reason: null,
    bytes_received: 0,
    bytes_sent: 412,
    duration: 121,
    upstream_service_time: '112',
    x_forwarded_for: '10.42.7.3',
    user_agent: 'agregador/2.3',
    request_id: '6e5d4c3b-2a19-4f08-b7e6-d5c4b3a29180',
    authority: 'api.banco-servidor.com.br',
    upstream_host: '200.185.19.4:443',
    upstream_cluster: 'outbound|443||api.banco-servidor.com.br',
    upstream_local_address: '10.42.2.8:40112',
    downstream_local_address: '10.42.2.8:8080',
    downstream_remote_address: '10.42.7.3:38812',
    requested_server_name: null,
    ...{
      fapi_interaction_id: fapi,
      fapi_interaction_id_response: fapi,
      pcm_role: 'CLIENT',
      pcm_counterparty_org_id: SERVER_ORG,
      pcm_org_id: CLIENT_ORG,
      pcm_client_ssid: '5f3c8a0e-2b7d-4c19-9e6a-0d4b1f2a3c57',
      pcm_correlation_id: null,
      pcm_additional_info: '{"consentId":"urn:bancoservidor:C1DD93123","tokenId":"c9ng8aKzxNXm"}',
      upstream_peer_subject: SERVER_SUBJECT,
    },
  };
}

/** The keys of Istio's default JSON format alone (what a line has before our providers add theirs). */
const STOCK_KEYS = [
  'start_time', 'route_name', 'method', 'path', 'protocol', 'response_code', 'response_flags', 'response_code_details',
  'connection_termination_details', 'upstream_transport_failure_reason', 'bytes_received', 'bytes_sent', 'duration',
  'upstream_service_time', 'x_forwarded_for', 'user_agent', 'request_id', 'authority', 'upstream_host', 'upstream_cluster',
  'upstream_local_address', 'downstream_local_address', 'downstream_remote_address', 'requested_server_name',
];

function stockOnly(line: Line): Line {
  return Object.fromEntries(Object.entries(line).filter(([key]) => STOCK_KEYS.includes(key)));
}

/** Istio before typed rendering (and Envoy's string json_format): every value a string, "-" when unset. */
function asStrings(line: Line): Line {
  return Object.fromEntries(Object.entries(line).map(([key, value]) => [key, value === null ? '-' : String(value)]));
}

const FAPI = 'e7c4a912-3f5b-4d8e-a1c6-9b2d0f4e7a35';

describe("Istio's stock JSON access log lines on /v1/gateways/envoy", () => {
  it('the fixtures have every key of the stock format, typed as Istio renders it', () => {
    expect(Object.keys(stockOnly(stockIngress(FAPI)))).toEqual(STOCK_KEYS);
    expect(Object.keys(stockOnly(stockEgress(FAPI)))).toEqual(STOCK_KEYS);
  });

  it('SERVER (ingress gateway): https on the authority called (no scheme key), %DURATION%, the caller from its certificate', () => {
    expect(interactionOf(fromEnvoy(stockIngress(FAPI), {}))).toEqual({
      role: 'SERVER',
      method: 'GET',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/accounts/v2/accounts/123/balances',
      status: 200,
      timedOut: false,
      startTime: '2026-01-08T12:00:00.123Z',
      durationMs: 88,
      fapiInteractionId: FAPI,
      counterpartyOrgId: CLIENT_ORG,
    });
  });

  it('CLIENT (egress gateway): the path (no upstream_path key), and the time until the upstream answered from upstream_service_time', () => {
    expect(interactionOf(fromEnvoy(stockEgress(FAPI), {}))).toEqual({
      role: 'CLIENT',
      method: 'GET',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/accounts/v2/accounts/123/balances',
      status: 200,
      timedOut: false,
      startTime: '2026-01-08T12:00:00.098Z',
      durationMs: 112,
      fapiInteractionId: FAPI,
      counterpartyOrgId: SERVER_ORG,
      orgId: CLIENT_ORG,
      clientSSId: '5f3c8a0e-2b7d-4c19-9e6a-0d4b1f2a3c57',
      additionalInfo: { consentId: 'urn:bancoservidor:C1DD93123', tokenId: 'c9ng8aKzxNXm' },
    });
  });

  it('%RESPONSE_DURATION%, when the format has it, wins over upstream_service_time', () => {
    expect(interactionOf(fromEnvoy({ ...stockEgress(FAPI), response_duration: 115 }, {})).durationMs).toBe(115);
  });

  it('the same lines rendered as strings ("-" when unset) map to the same interactions', () => {
    expect(interactionOf(fromEnvoy(asStrings(stockIngress(FAPI)), {}))).toEqual(interactionOf(fromEnvoy(stockIngress(FAPI), {})));
    expect(interactionOf(fromEnvoy(asStrings(stockEgress(FAPI)), {}))).toEqual(interactionOf(fromEnvoy(stockEgress(FAPI), {})));
  });

  it('a stock line alone (no pcm provider keys) is refused naming what the format lacks, with ?role= or without', () => {
    expect(problemsOf(fromEnvoy(stockOnly(stockIngress(FAPI)), { role: 'SERVER' }))).toEqual([
      { field: 'fapi_interaction_id', rule: 'required' },
      { field: 'pcm_counterparty_org_id', rule: 'required' },
    ]);
    expect(problemsOf(fromEnvoy(stockOnly(stockIngress(FAPI)), {}))).toEqual([
      { field: 'pcm_role', rule: 'required' },
      { field: 'fapi_interaction_id', rule: 'required' },
    ]);
  });

  it('CLIENT, the egress answered itself (NR, no upstream_service_time): nothing to report; an upstream reset (UC) is reported', () => {
    const noRoute = { ...stockEgress(FAPI), response_code: 404, response_flags: 'NR', response_code_details: 'route_not_found', upstream_service_time: null, upstream_host: null, duration: 0 };
    expect(problemsOf(fromEnvoy(noRoute, {}))).toEqual([{ field: 'response_flags', rule: 'not_proxied' }]);
    const reset = { ...stockEgress(FAPI), response_code: 503, response_flags: 'UC', upstream_service_time: null, duration: 41 };
    expect(interactionOf(fromEnvoy(reset, {}))).toMatchObject({ status: 503, timedOut: false, durationMs: 41 });
  });

  it('CLIENT timeout (UT, 504 after the 15 s route timeout, no upstream header): timedOut, duration = the wait', () => {
    const timeout = { ...stockEgress(FAPI), response_code: 504, response_flags: 'UT', response_code_details: 'upstream_response_timeout', upstream_service_time: null, duration: 15002 };
    expect(interactionOf(fromEnvoy(timeout, {}))).toMatchObject({ status: 504, timedOut: true, durationMs: 15002 });
  });

  it('a bad upstream_service_time is named', () => {
    expect(problemsOf(fromEnvoy({ ...stockEgress(FAPI), upstream_service_time: 'soon' }, {}))).toEqual([{ field: 'upstream_service_time', rule: 'type' }]);
  });
});

describe('Istio stock lines through the sidecar to the emulator', () => {
  let emulator: PcmEmulator;
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    const dir = await tempDir('istio');
    const pki = await testPki(dir);
    emulator = await startInProcessEmulator(pki, { pairingDelayMs: 100 });
    const config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: join(dir, 'spool.db') },
      pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile: pki.caCert },
      organisations: [
        { orgId: CLIENT_ORG, clientId: 'client-ss', certFile: pki.clients[CLIENT_ORG]!.cert, keyFile: pki.clients[CLIENT_ORG]!.key },
        { orgId: SERVER_ORG, clientId: 'server-ss', certFile: pki.clients[SERVER_ORG]!.cert, keyFile: pki.clients[SERVER_ORG]!.key },
      ],
      sender: { maxBatchDelayMs: 10, retryInitialDelayMs: 20, retryMaxDelayMs: 200 },
      rate: { fleetSize: 1 },
    });
    sidecar = await startSidecar(config, createLogger('silent'));
  }, 30_000);
  afterAll(async () => {
    await sidecar?.stop();
    await emulator?.stop();
  });

  it('both sides of 20 calls, posted as NDJSON: 202, 40 reports ACCEPTED and PAIRED; a readiness probe line is skipped', async () => {
    const lines: Line[] = [];
    for (let i = 0; i < 20; i++) {
      const fapi = randomUUID();
      const start = Date.now() - 5_000 + i;
      lines.push(stockEgress(fapi, new Date(start).toISOString()));
      // The ingress line: our own organisation is SERVER_ORG (the sidecar acts for both here).
      lines.push({ ...stockIngress(fapi, new Date(start + 10).toISOString()), ...(i % 2 === 0 ? {} : { duration: '88', response_code: '200' }) });
    }
    // The gateway's readiness probe, logged like any request (no fapi id, no certificate).
    lines.push({ ...stockOnly(stockIngress('')), path: '/healthz/ready', authority: '10.42.1.5:15021', pcm_role: 'SERVER' });
    const answer = await postJson<{ accepted: number; skipped?: number }>(
      `${sidecar.ingestUrl}/v1/gateways/envoy?orgId=${SERVER_ORG}`,
      lines.map((l) => JSON.stringify(l)).join('\n'),
      { 'content-type': 'application/x-ndjson' },
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(answer.body).toMatchObject({ accepted: 40, skipped: 1 });
    const statuses = await eventually(async () => {
      const snapshot = emulator.snapshot();
      return (snapshot.statuses.PAIRED ?? 0) === 40 ? snapshot : undefined;
    }, 30_000, 50);
    expect(statuses.reports).toEqual({ ACCEPTED: 40 });
    expect(statuses.statuses).toEqual({ PAIRED: 40 });
  }, 60_000);
});
