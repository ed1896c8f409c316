import { describe, expect, it } from 'vitest';
import { fromNginx, NGINX_LOG_KEYS } from '../../src/ingest/gateways/nginx.js';
import { interactionOf, problemsOf, deploy } from '../helpers/mappings.js';

/**
 * nginx JSON access log line → RawInteraction. The lines are what Debian's nginx 1.22 writes with the log formats in
 * deploy/gateways/nginx/pcm-log-format.conf (escape=json: every value a string, "" when unset, "-" in the upstream
 * variables for an attempt without a value), captured from a real run and given the ids below; test/e2e/nginx.test.ts
 * runs nginx itself.
 */

const CLIENT_ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e'; // banco-cliente
const SERVER_ORG = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87'; // banco-servidor
const CALLER_DN = `CN=tpp.banco-cliente.com.br,OU=${CLIENT_ORG},O=Banco Cliente S.A.,L=S\\C3\\A3o Paulo,ST=SP,C=BR`;

type Json = Record<string, unknown>;

/** The ingress (SERVER) line of GET balances: ended at 12:00:00.211 UTC after 0.088 s, so it started at .123. */
const SERVER_LINE: Json = {
  pcm_role: 'SERVER',
  msec: '1767873600.211',
  request_time: '0.088',
  upstream_header_time: '0.085',
  status: '200',
  upstream_status: '200',
  request_method: 'GET',
  scheme: 'https',
  host: 'api.banco-servidor.com.br',
  request_uri: '/opbk/open-banking/accounts/v2/accounts/123/balances',
  http_x_fapi_interaction_id: 'b3e1c7a2-5d4f-4e8a-9c6b-1f2e3d4c5b6a',
  sent_http_x_fapi_interaction_id: 'b3e1c7a2-5d4f-4e8a-9c6b-1f2e3d4c5b6a',
  ssl_client_s_dn: CALLER_DN,
  ssl_client_verify: 'SUCCESS',
  pcm_org_id: '',
  pcm_additional_info: '',
  request_id: 'f503efc780ed438998e4678c8f9bff61',
};

/** The egress (CLIENT) line of the same kind of call: 0.250 s in all, the participant's header after 0.112 s. */
const CLIENT_LINE: Json = {
  pcm_role: 'CLIENT',
  msec: '1767873600.348',
  request_time: '0.250',
  upstream_header_time: '0.112',
  status: '200',
  upstream_status: '200',
  request_method: 'GET',
  upstream_url: 'https://api.banco-servidor.com.br/opbk/open-banking/accounts/v2/accounts/123/balances',
  request_uri: '/opbk/open-banking/accounts/v2/accounts/123/balances',
  upstream_addr: '200.185.19.4:443',
  http_x_fapi_interaction_id: 'b3e1c7a2-5d4f-4e8a-9c6b-1f2e3d4c5b6a',
  upstream_http_x_fapi_interaction_id: 'b3e1c7a2-5d4f-4e8a-9c6b-1f2e3d4c5b6a',
  pcm_org_id: CLIENT_ORG,
  pcm_counterparty_org_id: SERVER_ORG,
  pcm_client_ssid: '',
  pcm_correlation_id: 'jornada-agregacao-7f3a',
  pcm_additional_info: '{"consentId":"urn:bancoservidor:C1DD93123"}',
  http_authorization: 'Bearer eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
  request_id: '994179e77ea9ff9351fcea477f12fa9f',
};

describe('nginx JSON access log lines', () => {
  it('SERVER: the URL the caller asked for, start = msec − request_time, request_time in ms, the caller from its certificate OU', () => {
    expect(interactionOf(fromNginx(SERVER_LINE, {}))).toEqual({
      role: 'SERVER',
      method: 'GET',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/accounts/v2/accounts/123/balances',
      status: 200,
      timedOut: false,
      startTime: 1767873600123,
      durationMs: 88,
      fapiInteractionId: 'b3e1c7a2-5d4f-4e8a-9c6b-1f2e3d4c5b6a',
      counterpartyOrgId: CLIENT_ORG,
    });
  });

  it('CLIENT: upstream_url, processTimespan = upstream_header_time, the x-pcm-* headers and the bearer token', () => {
    expect(interactionOf(fromNginx(CLIENT_LINE, {}))).toEqual({
      role: 'CLIENT',
      method: 'GET',
      url: 'https://api.banco-servidor.com.br/opbk/open-banking/accounts/v2/accounts/123/balances',
      status: 200,
      timedOut: false,
      startTime: 1767873600098,
      durationMs: 112,
      fapiInteractionId: 'b3e1c7a2-5d4f-4e8a-9c6b-1f2e3d4c5b6a',
      counterpartyOrgId: SERVER_ORG,
      orgId: CLIENT_ORG,
      correlationId: 'jornada-agregacao-7f3a',
      additionalInfo: { consentId: 'urn:bancoservidor:C1DD93123' },
      accessToken: 'Bearer eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
    });
  });

  describe('seconds → milliseconds, end → start', () => {
    it.each([
      ['quoted strings (escape=json)', { msec: '1767873600.461', request_time: '0.250' }, 1767873600211, 250],
      ['unquoted numbers', { msec: 1767873600.461, request_time: 0.25 }, 1767873600211, 250],
      ['a whole second', { msec: '1767873601.000', request_time: '1.000' }, 1767873600000, 1000],
      ['under a millisecond (0.000)', { msec: '1767873600.005', request_time: '0.000' }, 1767873600005, 0],
      ['15 s', { msec: '1767873615.457', request_time: '15.001' }, 1767873600456, 15001],
    ])('%s', (_name, times, start, ms) => {
      expect(interactionOf(fromNginx({ ...SERVER_LINE, ...times }, {}))).toMatchObject({ startTime: start, durationMs: ms });
    });

    it('a value of 0.250 is 250 ms, never 1 ms: no unit is guessed', () => {
      expect(interactionOf(fromNginx({ ...SERVER_LINE, request_time: '0.250' }, {})).durationMs).toBe(250);
    });

    it('msec in milliseconds (or anything not epoch seconds) is refused, not taken for a date in year 57 000', () => {
      expect(problemsOf(fromNginx({ ...SERVER_LINE, msec: '1767873600211' }, {}))).toEqual([{ field: 'msec', rule: 'range' }]);
      expect(problemsOf(fromNginx({ ...SERVER_LINE, msec: '12.5' }, {}))).toEqual([{ field: 'msec', rule: 'range' }]);
    });

    it('bad numbers are named', () => {
      expect(problemsOf(fromNginx({ ...SERVER_LINE, request_time: '250ms' }, {}))).toEqual([{ field: 'request_time', rule: 'type' }]);
      expect(problemsOf(fromNginx({ ...SERVER_LINE, status: 'OK' }, {}))).toEqual([{ field: 'status', rule: 'type' }]);
      expect(problemsOf(fromNginx({ ...SERVER_LINE, request_time: '-1.000' }, {}))).toEqual([{ field: 'request_time', rule: 'range' }]);
    });
  });

  describe('upstream_header_time (CLIENT processTimespan)', () => {
    it.each([
      ['one upstream', '0.112', 112],
      ['a number', 0.112, 112],
      ['two servers of one group (", "): summed', '0.030, 0.112', 142],
      ['an internal redirect (" : "): summed', '0.030 : 0.112', 142],
      ['a first attempt without a header ("-") adds nothing', '-, 0.112', 112],
    ])('%s: %s → %i ms', (_name, value, ms) => {
      expect(interactionOf(fromNginx({ ...CLIENT_LINE, upstream_header_time: value }, {})).durationMs).toBe(ms);
    });

    it('"-" or "" (no header arrived): request_time, how long the call lasted, with the status nginx answered', () => {
      for (const value of ['-', '', '-, -']) {
        const failed = { ...CLIENT_LINE, status: '502', upstream_status: '502', upstream_header_time: value };
        expect(interactionOf(fromNginx(failed, {}))).toMatchObject({ status: 502, timedOut: false, durationMs: 250 });
      }
    });

    it('a list with something that is no number is named', () => {
      expect(problemsOf(fromNginx({ ...CLIENT_LINE, upstream_header_time: '0.1, soon' }, {}))).toEqual([{ field: 'upstream_header_time', rule: 'type' }]);
    });

    it('SERVER uses request_time (until the last byte was sent), whatever upstream_header_time says', () => {
      expect(interactionOf(fromNginx({ ...SERVER_LINE, upstream_header_time: '0.010' }, {})).durationMs).toBe(88);
    });
  });

  describe("'' and '-' are absent", () => {
    it('optional fields', () => {
      const mapped = interactionOf(fromNginx({ ...CLIENT_LINE, pcm_correlation_id: '-', pcm_additional_info: '', pcm_org_id: '', http_authorization: '-' }, {}));
      expect(mapped.correlationId).toBeUndefined();
      expect(mapped.additionalInfo).toBeUndefined();
      expect(mapped.orgId).toBeUndefined();
      expect(mapped.accessToken).toBeUndefined();
    });

    it('the id from the request, else the one sent back (server-generated), else the upstream one', () => {
      const none = { ...SERVER_LINE, http_x_fapi_interaction_id: '' };
      expect(interactionOf(fromNginx({ ...none, sent_http_x_fapi_interaction_id: '8c2a4e6f-1b3d-4f5a-9c7e-0d2b4f6a8c1e' }, {})).fapiInteractionId).toBe(
        '8c2a4e6f-1b3d-4f5a-9c7e-0d2b4f6a8c1e',
      );
      const client = { ...CLIENT_LINE, http_x_fapi_interaction_id: '-', upstream_http_x_fapi_interaction_id: '91d3f6b8-4a2c-4e7d-8f1b-3c5a7e9d0b24' };
      expect(interactionOf(fromNginx(client, {})).fapiInteractionId).toBe('91d3f6b8-4a2c-4e7d-8f1b-3c5a7e9d0b24');
      expect(problemsOf(fromNginx({ ...none, sent_http_x_fapi_interaction_id: '' }, {}))).toEqual([{ field: 'http_x_fapi_interaction_id', rule: 'required' }]);
    });

    it('SERVER without a host: the path alone (enough for a SERVER report)', () => {
      expect(interactionOf(fromNginx({ ...SERVER_LINE, host: '', scheme: '' }, {})).url).toBe('/opbk/open-banking/accounts/v2/accounts/123/balances');
    });

    it('additionalInfo: JSON object text from a header; not JSON is named', () => {
      expect(interactionOf(fromNginx({ ...SERVER_LINE, pcm_additional_info: '{"dropReason":"NONE"}' }, {})).additionalInfo).toEqual({ dropReason: 'NONE' });
      expect(problemsOf(fromNginx({ ...SERVER_LINE, pcm_additional_info: 'dropReason=NONE' }, {}))).toEqual([{ field: 'pcm_additional_info', rule: 'type' }]);
    });
  });

  describe('the counterparty', () => {
    it('SERVER: the UUID OU of the verified client certificate; none, or an unverified one, is a problem', () => {
      expect(problemsOf(fromNginx({ ...SERVER_LINE, ssl_client_s_dn: '' }, {}))).toEqual([{ field: 'pcm_counterparty_org_id', rule: 'required' }]);
      expect(problemsOf(fromNginx({ ...SERVER_LINE, ssl_client_s_dn: 'CN=monitoramento,O=Banco,C=BR' }, {}))).toEqual([
        { field: 'pcm_counterparty_org_id', rule: 'required' },
      ]);
      const unverified = fromNginx({ ...SERVER_LINE, ssl_client_verify: 'FAILED:certificate has expired' }, {});
      expect(problemsOf(unverified)).toEqual([{ field: 'pcm_counterparty_org_id', rule: 'required' }]);
      expect(unverified.ok ? '' : unverified.problems[0]?.message).toContain('FAILED:certificate has expired');
      // A format without ssl_client_verify (ssl_verify_client on lets only verified callers in) still reads the DN.
      const { ssl_client_verify: _verify, ...withoutVerify } = SERVER_LINE;
      expect(interactionOf(fromNginx(withoutVerify, {})).counterpartyOrgId).toBe(CLIENT_ORG);
    });

    it('CLIENT: only pcm_counterparty_org_id (nginx has no variable for the server certificate)', () => {
      const result = fromNginx({ ...CLIENT_LINE, pcm_counterparty_org_id: '' }, {});
      expect(problemsOf(result)).toEqual([{ field: 'pcm_counterparty_org_id', rule: 'required' }]);
      expect(result.ok ? '' : result.problems[0]?.message).toContain('x-pcm-counterparty-org-id');
    });
  });

  describe('timeouts', () => {
    it("SERVER 499 (nginx: the caller closed the connection before an answer) → timedOut", () => {
      expect(interactionOf(fromNginx({ ...SERVER_LINE, status: '499', upstream_status: '', upstream_header_time: '', request_time: '15.000' }, {}))).toMatchObject({
        status: 499,
        timedOut: true,
        durationMs: 15000,
      });
    });

    it('SERVER 504 (our backend was late; the caller got a 504) stays a 504', () => {
      const late = { ...SERVER_LINE, status: '504', upstream_status: '504', upstream_header_time: '-', request_time: '14.001' };
      expect(interactionOf(fromNginx(late, {}))).toMatchObject({ status: 504, timedOut: false, durationMs: 14001 });
    });

    it("CLIENT 504 from nginx itself (proxy_read_timeout: no upstream header) → timedOut, duration = the wait", () => {
      const gaveUp = { ...CLIENT_LINE, status: '504', upstream_status: '504', upstream_header_time: '-', request_time: '15.002' };
      expect(interactionOf(fromNginx(gaveUp, {}))).toMatchObject({ status: 504, timedOut: true, durationMs: 15002 });
    });

    it('CLIENT: a 504 the other participant sent after ≥ 15 s is a timeout; a quick one is not', () => {
      expect(interactionOf(fromNginx({ ...CLIENT_LINE, status: '504', upstream_status: '504', upstream_header_time: '15.010' }, {}))).toMatchObject({
        timedOut: true,
        durationMs: 15010,
      });
      expect(interactionOf(fromNginx({ ...CLIENT_LINE, status: '504', upstream_status: '504', upstream_header_time: '0.900' }, {}))).toMatchObject({
        status: 504,
        timedOut: false,
        durationMs: 900,
      });
    });

    it('CLIENT: upstream_status 504 behind another answer (error_page) after ≥ 15 s is still the timeout', () => {
      expect(interactionOf(fromNginx({ ...CLIENT_LINE, status: '502', upstream_status: '504', upstream_header_time: '', request_time: '15.003' }, {})).timedOut).toBe(true);
    });

    it('CLIENT 499: our application gave up → timedOut, duration = how long it waited', () => {
      expect(interactionOf(fromNginx({ ...CLIENT_LINE, status: '499', upstream_status: '', upstream_header_time: '', request_time: '9.000' }, {}))).toMatchObject({
        timedOut: true,
        durationMs: 9000,
      });
    });
  });

  it('CLIENT call nginx answered itself (no upstream_status, no upstream_header_time): nothing to report', () => {
    const local = { ...CLIENT_LINE, status: '403', upstream_status: '', upstream_header_time: '', upstream_url: 'https:///open-banking/x' };
    expect(problemsOf(fromNginx(local, {}))).toEqual([
      { field: 'upstream_url', rule: 'format' },
      { field: 'upstream_status', rule: 'not_proxied' },
    ]);
    expect(problemsOf(fromNginx({ ...CLIENT_LINE, status: '429', upstream_status: '', upstream_header_time: '' }, {}))).toEqual([
      { field: 'upstream_status', rule: 'not_proxied' },
    ]);
  });

  it('a refused line still carries its path, so the ingest can tell a health check (PCM_INGEST_SKIP_PATHS) from a bad call', () => {
    const health = { ...CLIENT_LINE, status: '200', upstream_status: '', upstream_header_time: '', upstream_url: 'https:///healthz', request_uri: '/healthz' };
    const client = fromNginx(health, {});
    expect(client.ok ? '' : client.url).toBe('/healthz');
    const server = fromNginx({ ...SERVER_LINE, request_uri: '/healthz', http_x_fapi_interaction_id: '', sent_http_x_fapi_interaction_id: '' }, {});
    expect(server.ok ? '' : server.url).toBe('https://api.banco-servidor.com.br/healthz');
  });

  it('the role: pcm_role (the literal in the format) wins over ?role=; neither is a problem, a bad one too', () => {
    const { pcm_role: _role, ...withoutRole } = SERVER_LINE;
    expect(interactionOf(fromNginx(withoutRole, { role: 'SERVER' })).role).toBe('SERVER');
    expect(interactionOf(fromNginx(SERVER_LINE, { role: 'CLIENT' })).role).toBe('SERVER');
    expect(interactionOf(fromNginx({ ...SERVER_LINE, pcm_role: 'server' }, {})).role).toBe('SERVER');
    expect(problemsOf(fromNginx(withoutRole, {}))).toEqual([{ field: 'pcm_role', rule: 'required' }]);
    expect(problemsOf(fromNginx({ ...SERVER_LINE, pcm_role: '' }, {}))).toEqual([{ field: 'pcm_role', rule: 'required' }]);
    expect(problemsOf(fromNginx({ ...SERVER_LINE, pcm_role: 'PROXY' }, { role: 'SERVER' }))).toEqual([{ field: 'pcm_role', rule: 'enum' }]);
  });

  it('keys a log shipper adds are ignored (Fluent Bit date, Vector file/host/timestamp)', () => {
    const shipped = { ...CLIENT_LINE, date: 1767873600.348912, file: '/var/log/nginx/pcm.log', host: 'gw-1', timestamp: '2026-01-08T12:00:00.400Z' };
    expect(interactionOf(fromNginx(shipped, {}))).toEqual(interactionOf(fromNginx(CLIENT_LINE, {})));
  });

  it('every missing basic field is named, all at once; a line that is not an object too', () => {
    expect(problemsOf(fromNginx({ pcm_role: 'SERVER' }, {}))).toEqual([
      { field: 'request_method', rule: 'required' },
      { field: 'status', rule: 'required' },
      { field: 'msec', rule: 'required' },
      { field: 'request_time', rule: 'required' },
      { field: 'http_x_fapi_interaction_id', rule: 'required' },
      { field: 'pcm_counterparty_org_id', rule: 'required' },
      { field: 'request_uri', rule: 'required' },
    ]);
    expect(problemsOf(fromNginx({ pcm_role: 'CLIENT', status: '200', upstream_status: '200' }, {}))).toEqual([
      { field: 'request_method', rule: 'required' },
      { field: 'msec', rule: 'required' },
      { field: 'request_time', rule: 'required' },
      { field: 'http_x_fapi_interaction_id', rule: 'required' },
      { field: 'pcm_counterparty_org_id', rule: 'required' },
      { field: 'upstream_url', rule: 'required' },
    ]);
    expect(problemsOf(fromNginx([SERVER_LINE], {}))).toEqual([{ field: '(line)', rule: 'type' }]);
    expect(problemsOf(fromNginx('{"status":"200"}', {}))).toEqual([{ field: '(line)', rule: 'type' }]);
  });
});

describe('the shipped nginx files', () => {
  const formats = deploy('nginx/pcm-log-format.conf');
  const formatOf = (name: string): string => {
    const start = formats.indexOf(`log_format ${name} escape=json`);
    expect(start, name).toBeGreaterThanOrEqual(0);
    return formats.slice(start, formats.indexOf("'}';", start));
  };

  it('both formats are escape=json with the role as a literal', () => {
    expect(formatOf('pcm_server')).toContain(`'"pcm_role":"SERVER",'`);
    expect(formatOf('pcm_client')).toContain(`'"pcm_role":"CLIENT",'`);
  });

  it('every variable NGINX_LOG_KEYS names is written under its key by one of the formats; the test lines use only their keys', () => {
    const both = formatOf('pcm_server') + formatOf('pcm_client');
    for (const [key, variable] of Object.entries(NGINX_LOG_KEYS)) {
      const first = (variable.split(' ')[0] as string).replace(/:$/, '');
      if (!first.includes('$')) continue;
      expect(both, key).toContain(`"${key}":"${first}"`);
    }
    for (const [name, line] of [['pcm_server', SERVER_LINE], ['pcm_client', CLIENT_LINE]] as const) {
      for (const key of Object.keys(line)) expect(formatOf(name), `${name} ${key}`).toContain(`"${key}":"`);
    }
  });

  it('the sample servers log with if=$pcm_loggable, and health checks are not loggable', () => {
    const conf = deploy('nginx/nginx.conf');
    expect(conf).toContain('access_log /var/log/nginx/pcm.log pcm_server if=$pcm_loggable;');
    expect(conf).toContain('access_log /var/log/nginx/pcm.log pcm_client if=$pcm_loggable;');
    expect(conf).toContain('ssl_verify_client       on;');
    expect(formats).toMatch(/map \$uri \$pcm_loggable \{[^}]*healthz[^}]*0;[^}]*default\s+1;/);
  });

  it('Fluent Bit and Vector post to the nginx route with partialStatus=202', () => {
    const fluentBit = deploy('nginx/fluent-bit.yaml');
    expect(fluentBit).toContain('uri: /v1/gateways/nginx?partialStatus=202');
    expect(fluentBit).toMatch(/^\s+format: json$/m);
    expect(fluentBit).toMatch(/^\s+storage\.type: filesystem$/m);
    const vector = deploy('nginx/vector.yaml');
    expect(vector).toContain('uri: http://127.0.0.1:8431/v1/gateways/nginx?partialStatus=202');
    expect(vector).toContain('parse_json!(string!(.message))');
  });
});
