import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseFaultConfig, type FaultConfig } from '../../src/emulator/faults.js';
import type { EmulatorOptions } from '../../src/emulator/emulator.js';
import type { PkiFiles } from '../../src/pki/certs.js';
import { BV, CAIXA, EmulatorHarness, OPENDATA, PRIVATE, clientReport, makePki, opendataReport, transportError, type Answer } from './harness.js';

/**
 * Issue #4, fault injection through the server: each knob of src/emulator/faults.ts (whose decisions test/emulator/faults.test.ts
 * checks without a network) carried out over real HTTPS, set once in the constructor (`faults:`) and once at run time
 * (PUT /emulator/faults, read back with GET). Behaviour only: a hang or a long latency is shown by the client's own
 * timeout firing, never by measuring how long anything took.
 */

const HOUR = 60 * 60 * 1000;
const ROUTE = `POST ${PRIVATE}`;
/** The client's patience in the hang and latency cases: how long undici waits for the answer to start. */
const CLIENT_TIMEOUT_MS = 250;
const TOKEN_BODY = JSON.stringify({ client_id: 'ss-062c5edb', grant_type: 'client_credentials' });

let pki: PkiFiles;
const started: EmulatorHarness[] = [];

beforeAll(async () => {
  pki = await makePki([BV, CAIXA], 'faults-server');
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((h) => h.close()));
});

async function start(overrides: Partial<EmulatorOptions> = {}): Promise<EmulatorHarness> {
  const h = await EmulatorHarness.start(pki, overrides);
  started.push(h);
  return h;
}

async function putFaults(h: EmulatorHarness, input: unknown): Promise<Answer<FaultConfig & { message?: string }>> {
  return h.call('/emulator/faults', typeof input === 'string' ? input : JSON.stringify(input), { method: 'PUT' });
}

type Mode = 'construction' | 'PUT';

/** An emulator with `input` as its fault configuration, given the way `mode` says; GET /emulator/faults shows it. */
async function withFaults(mode: Mode, input: unknown, overrides: Partial<EmulatorOptions> = {}): Promise<EmulatorHarness> {
  const config = parseFaultConfig(input, 'test');
  let h: EmulatorHarness;
  if (mode === 'construction') {
    h = await start({ ...overrides, faults: config });
  } else {
    h = await start(overrides);
    const put = await putFaults(h, input);
    expect(put.status).toBe(200);
    expect(put.body).toEqual(config);
  }
  expect((await h.call('/emulator/faults')).body).toEqual(config);
  return h;
}

const report = (h: EmulatorHarness, options: { headersTimeout?: number } = {}) => h.send(BV, [clientReport(BV, CAIXA)], PRIVATE, options);
const stats = async (h: EmulatorHarness) =>
  (await h.call<{ requests: Record<string, Record<string, number>>; statuses: Record<string, number> }>('/emulator/stats')).body;
const window = (over: Record<string, unknown> = {}) => ({
  from: new Date(Date.now() - HOUR).toISOString(),
  to: new Date(Date.now() + HOUR).toISOString(),
  ...over,
});

describe.each<Mode>(['construction', 'PUT'])('fault knobs through the server, set at %s', (mode) => {
  it.each([429, 500, 502, 503, 504])('errorRates { %i: 1 }: every report request gets it; Retry-After only on 429 and 503', async (status) => {
    const h = await withFaults(mode, { errorRates: { [String(status)]: 1 }, retryAfterSeconds: 7 });
    for (let i = 0; i < 3; i++) {
      const res = await report(h);
      expect(res.status).toBe(status);
      expect(res.body).toEqual({ message: `injected fault: errorRates.${status}` });
      expect(res.headers['retry-after']).toBe(status === 429 || status === 503 ? '7' : undefined);
    }
    expect((await h.reports()).meta.totalRecords).toBe(0); // nothing behind an injected error was stored
    expect((await stats(h)).requests[ROUTE]?.[String(status)]).toBe(3);
  });

  it('errorRates 0.5 with a seed: 30–70 % of 200 requests fail, and the same seed repeats the same sequence', async () => {
    const input = { errorRates: { '500': 0.5 }, seed: 20261122 };
    const h = await withFaults(mode, input);
    const token = await h.token(BV);
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await h.call(PRIVATE, [], { token })).status);
    const failed = statuses.filter((s) => s === 500).length;
    expect(statuses.every((s) => s === 200 || s === 500)).toBe(true);
    expect(failed).toBeGreaterThanOrEqual(60);
    expect(failed).toBeLessThanOrEqual(140);

    // Applying the same configuration again (a new emulator, or a new PUT) restarts the seeded sequence.
    const again = mode === 'construction' ? await withFaults(mode, input) : h;
    if (mode === 'PUT') expect((await putFaults(h, input)).status).toBe(200);
    const againToken = await again.token(BV);
    const replay: number[] = [];
    for (let i = 0; i < 50; i++) replay.push((await again.call(PRIVATE, [], { token: againToken })).status);
    expect(replay).toEqual(statuses.slice(0, 50));
  });

  it('hangRate 1: the request never gets an answer — the client’s own timeout ends it', async () => {
    const h = await withFaults(mode, { hangRate: 1 });
    const err = await transportError(report(h, { headersTimeout: CLIENT_TIMEOUT_MS }));
    expect(err.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect((await stats(h)).requests[ROUTE]).toEqual({ hang: 1 });
    expect((await putFaults(h, {})).status).toBe(200);
    expect((await report(h)).status).toBe(200);
  });

  it('resetRate 1: the connection is destroyed — the client sees a socket error, not a status', async () => {
    const h = await withFaults(mode, { resetRate: 1 });
    const err = await transportError(report(h));
    expect(err.code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET|EPIPE)$/);
    expect((await stats(h)).requests[ROUTE]).toEqual({ reset: 1 });
    expect((await h.reports()).meta.totalRecords).toBe(0);
  });

  it('latencyMs: far longer than the client waits → its timeout fires; a short one still gets the answer', async () => {
    const slow = await withFaults(mode, { latencyMs: 5_000 });
    expect((await transportError(report(slow, { headersTimeout: CLIENT_TIMEOUT_MS }))).code).toBe('UND_ERR_HEADERS_TIMEOUT');
    // Latency comes before an injected status too.
    const slowError = await withFaults(mode, { latencyMs: 5_000, errorRates: { '503': 1 } });
    expect((await transportError(report(slowError, { headersTimeout: CLIENT_TIMEOUT_MS }))).code).toBe('UND_ERR_HEADERS_TIMEOUT');
    const short = await withFaults(mode, { latencyMs: 20, latencyJitterMs: 20 });
    expect((await report(short)).status).toBe(200);
  });

  it('an outage window covering now: 503 (with Retry-After), or its status; a past window does nothing', async () => {
    const h = await withFaults(mode, { outages: [window()], retryAfterSeconds: 5 });
    const res = await report(h);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect((res.body as unknown as { message: string }).message).toMatch(/^injected fault: outage /);
    // Outages cover the report API only: a token is still issued.
    expect((await h.tokenRequest(BV, TOKEN_BODY, 'application/json', '/token-fresh/')).status).toBe(200);
    expect((await h.send(BV, [opendataReport()], OPENDATA)).status).toBe(503);

    const limited = await withFaults(mode, { outages: [window({ status: 429 })], errorRates: { '500': 1 } });
    expect((await report(limited)).status).toBe(429); // the window wins over the rates

    const past = await withFaults(mode, {
      outages: [{ from: new Date(Date.now() - 2 * HOUR).toISOString(), to: new Date(Date.now() - HOUR).toISOString() }],
    });
    expect((await report(past)).status).toBe(200);
  });

  it("an outage window in mode 'reset' destroys connections; in mode 'hang' never answers", async () => {
    const reset = await withFaults(mode, { outages: [window({ mode: 'reset' })] });
    expect((await transportError(report(reset))).code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET|EPIPE)$/);
    const hang = await withFaults(mode, { outages: [window({ mode: 'hang' })] });
    expect((await transportError(report(hang, { headersTimeout: CLIENT_TIMEOUT_MS }))).code).toBe('UND_ERR_HEADERS_TIMEOUT');
  });

  it('maxItems lower than 5000: 413 above it, private and opendata; a higher value does not raise the PCM limit', async () => {
    const h = await withFaults(mode, { maxItems: 3 });
    const items = (n: number) => Array.from({ length: n }, () => clientReport(BV, CAIXA));
    expect(await h.send(BV, items(4))).toMatchObject({ status: 413, body: { message: 'Record limit exceeded' } });
    expect((await h.send(BV, items(3))).status).toBe(200);
    expect((await h.send(BV, [opendataReport(), opendataReport(), opendataReport(), opendataReport()], OPENDATA)).status).toBe(413);
    const high = await withFaults(mode, { maxItems: 10_000 });
    expect((await high.send(BV, Array.from({ length: 5001 }, () => opendataReport()), OPENDATA)).status).toBe(413);
  });

  it('maxBodyBytes lower than 10 MB: 413 above it; under it the report is taken', async () => {
    const h = await withFaults(mode, { maxBodyBytes: 2048 });
    const fat = [clientReport(BV, CAIXA, { correlationId: 'x'.repeat(100) }), ...Array.from({ length: 5 }, () => clientReport(BV, CAIXA))];
    expect(JSON.stringify(fat).length).toBeGreaterThan(2048);
    expect(await h.send(BV, fat)).toMatchObject({ status: 413, body: { message: 'Record limit exceeded' } });
    expect((await h.send(BV, fat.slice(0, 1))).status).toBe(200);
    expect((await h.reports()).meta.totalRecords).toBe(1);
  });

  it('token errorRate 1: the token endpoint answers the configured status (Retry-After on 503), both paths', async () => {
    const h = await withFaults(mode, { token: { errorRate: 1, status: 503 }, retryAfterSeconds: 4 });
    for (const path of ['/token/', '/token-fresh/']) {
      const res = await h.tokenRequest(BV, TOKEN_BODY, 'application/json', path);
      expect(res).toMatchObject({ status: 503, body: { message: 'injected fault: token.errorRate' } });
      expect(res.headers['retry-after']).toBe('4');
    }
    const other = await withFaults(mode, { token: { errorRate: 1, status: 400 }, retryAfterSeconds: 4 });
    const res = await other.tokenRequest(BV, TOKEN_BODY);
    expect(res.status).toBe(400);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(h.emulator.snapshot().tokensIssued + other.emulator.snapshot().tokensIssued).toBe(0);
    // Lifted, tokens come again.
    expect((await putFaults(h, {})).status).toBe(200);
    expect((await h.tokenRequest(BV, TOKEN_BODY)).status).toBe(200);
  });

  it('token hangRate 1: the token request never gets an answer; report faults are not token faults', async () => {
    const h = await withFaults(mode, { token: { hangRate: 1 } });
    expect((await transportError(h.tokenRequest(BV, TOKEN_BODY, 'application/json', '/token/', CLIENT_TIMEOUT_MS))).code).toBe('UND_ERR_HEADERS_TIMEOUT');
    const reportFaults = await withFaults(mode, { hangRate: 1, resetRate: 1, errorRates: { '503': 1 } });
    expect((await reportFaults.tokenRequest(BV, TOKEN_BODY)).status).toBe(200);
  });
});

describe('run-time control of faults', () => {
  it('GET /emulator/faults starts at the defaults', async () => {
    const h = await start();
    expect((await h.call('/emulator/faults')).body).toEqual(parseFaultConfig({}, 'test'));
  });

  it('POST /emulator/faults {status, count, retryAfter} queues deterministic answers for the next report requests', async () => {
    const h = await start();
    await h.token(BV);
    expect(await h.call('/emulator/faults', { status: 503, count: 2, retryAfter: 3 })).toMatchObject({ status: 200, body: { queued: 2 } });
    // The token endpoint does not consume the queue.
    expect((await h.tokenRequest(BV, TOKEN_BODY)).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const res = await report(h);
      expect(res).toMatchObject({ status: 503, body: { message: 'injected fault: queued' } });
      expect(res.headers['retry-after']).toBe('3');
    }
    expect((await report(h)).status).toBe(200);
  });

  it('the queue comes before the rates, survives a PUT, and defaults to one request without Retry-After', async () => {
    const h = await start();
    expect((await h.call('/emulator/faults', { status: 429 })).body).toEqual({ queued: 1 });
    expect((await putFaults(h, { errorRates: { '500': 1 } })).status).toBe(200);
    const first = await report(h);
    expect(first.status).toBe(429);
    expect(first.headers['retry-after']).toBeUndefined();
    expect((await report(h)).status).toBe(500);
  });

  it.each([
    [{ status: 200 }],
    [{ status: 600 }],
    [{ status: '503' }],
    [{}],
  ])('POST /emulator/faults %j → 400', async (body) => {
    const h = await start();
    expect(await h.call('/emulator/faults', body)).toMatchObject({ status: 400, body: { message: 'status must be a number from 400 to 599' } });
    expect((await report(h)).status).toBe(200);
  });

  it.each([
    [{ hangRate: 2 }, 'hangRate'],
    [{ resetRate: -1 }, 'resetRate'],
    [{ errorRates: { '500': 0.6, '503': 0.5 } }, 'errorRates'],
    [{ errorRates: { '418': 0.1 } }, 'errorRates'],
    [{ outages: [{ from: 'yesterday', to: '2030-01-01T00:00:00Z' }] }, 'outages[0].from'],
    [{ maxItems: 0 }, 'maxItems'],
    [{ token: { status: 200 } }, 'token.status'],
    [{ latencyMs: 'slow' }, 'latencyMs'],
    [{ hangrate: 1 }, 'hangrate'],
  ])('PUT %j → 400 naming %s, and the configuration in force is kept', async (input, field) => {
    const h = await start();
    const current = await putFaults(h, { latencyMs: 1 });
    const res = await putFaults(h, input);
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('fault configuration PUT /emulator/faults: ');
    expect(res.body.message).toContain(field);
    expect((await h.call('/emulator/faults')).body).toEqual(current.body);
  });

  it('PUT or POST with a body that is not JSON → 400, not a server error', async () => {
    const h = await start();
    expect(await putFaults(h, '{"hangRate": ')).toMatchObject({ status: 400, body: { message: 'PUT /emulator/faults: body is not valid JSON' } });
    expect(await h.call('/emulator/faults', '{"status": 503,')).toMatchObject({ status: 400, body: { message: 'POST /emulator/faults: body is not valid JSON' } });
    expect((await h.call('/emulator/faults')).body).toEqual(parseFaultConfig({}, 'test'));
    expect((await report(h)).status).toBe(200);
  });

  it('DELETE /emulator/faults lifts every fault, the queued ones too (which PUT keeps)', async () => {
    const h = await start({ faults: parseFaultConfig({ errorRates: { '503': 1 } }, 'test') });
    expect((await h.call('/emulator/faults', { status: 403, count: 1000 })).body).toEqual({ queued: 1000 });
    const forbidden = await report(h);
    expect(forbidden).toMatchObject({ status: 403, body: { message: 'injected fault: queued' } });
    expect(await h.call('/emulator/faults', undefined, { method: 'DELETE' })).toMatchObject({
      status: 200,
      body: { ...parseFaultConfig({}, 'test'), droppedQueued: 999 },
    });
    expect((await report(h)).status).toBe(200);
    expect((await stats(h)).requests[ROUTE]).toEqual({ '200': 1, '403': 1 });
  });

  it('PUT {} lifts every fault', async () => {
    const h = await start({ faults: parseFaultConfig({ errorRates: { '503': 1 }, maxItems: 1 }, 'test') });
    expect((await report(h)).status).toBe(503);
    expect(await putFaults(h, {})).toMatchObject({ status: 200, body: parseFaultConfig({}, 'test') });
    expect((await h.send(BV, [clientReport(BV, CAIXA), clientReport(BV, CAIXA)])).status).toBe(200);
  });
});
