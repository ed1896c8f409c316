import { describe, expect, it } from 'vitest';
import { TokenError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { LaneReadiness } from '../../src/sender/readiness.js';

/**
 * The readiness of one lane as a state machine, on a clock the test moves: which cause wins, when each began, how
 * each clears. test/e2e/readiness.test.ts shows the same through the processes and the emulator.
 */

const START = Date.parse('2026-12-01T12:00:00.000Z');
const STALL_MS = 10_000;

function lane(stallMs = STALL_MS): { r: LaneReadiness; clock: { now: number }; backlog: { oldest: number | null } } {
  const clock = { now: START };
  const backlog: { oldest: number | null } = { oldest: null };
  const r = new LaneReadiness('private:x', stallMs, () => backlog.oldest, createLogger('silent'), () => clock.now);
  return { r, clock, backlog };
}

const refused = new TokenError('token endpoint answered 400: {"error":"invalid_client"}', false, 400);
const unavailable = new TokenError('token endpoint answered 503: {}', true, 503);

describe('lane readiness', () => {
  it('is ready with nothing to send, however long nothing happens', () => {
    const { r, clock } = lane();
    clock.now += 10 * STALL_MS;
    expect(r.view(null)).toMatchObject({ ready: true, code: null, reason: null, since: new Date(START).toISOString(), backlogOldestAgeSeconds: 0 });
  });

  it('stalls once reports have waited the stall time with no progress, counted from the later of progress and storage', () => {
    const { r, clock, backlog } = lane();
    clock.now = START + 60_000;
    backlog.oldest = START + 55_000; // stored long after the last progress (the start)
    expect(r.view(null).ready).toBe(true);
    clock.now = START + 55_000 + STALL_MS;
    const view = r.view('report POST failed: Headers Timeout Error');
    expect(view).toMatchObject({ ready: false, code: 'PCM_LANE_STALLED', since: new Date(START + 55_000 + STALL_MS).toISOString() });
    expect(view.reason).toContain('none was answered by the PCM for 10 s');
    expect(view.reason).toContain('Headers Timeout Error');
    expect(view.backlogOldestAgeSeconds).toBe(STALL_MS / 1000);

    // Progress ends the stall at once, and the clock restarts from it.
    clock.now += 1000;
    r.progressed();
    expect(r.view(null)).toMatchObject({ ready: true, since: new Date(clock.now).toISOString() });
    clock.now += STALL_MS - 1;
    expect(r.view(null).ready).toBe(true);
    clock.now += 1;
    expect(r.view(null).code).toBe('PCM_LANE_STALLED');
  });

  it('PCM_LANE_STALL_MS=0 turns the stall off', () => {
    const { r, clock, backlog } = lane(0);
    backlog.oldest = START;
    clock.now += 1000 * STALL_MS;
    expect(r.view(null).ready).toBe(true);
  });

  it('a refused token request makes it not ready until a token is obtained; other token errors do not', () => {
    const { r, clock } = lane();
    r.tokenRefresh({ result: 'error', error: unavailable }, 'ss-1');
    expect(r.view(null).ready).toBe(true);
    r.tokenRefresh({ result: 'refused', error: refused }, 'ss-1');
    clock.now += 1000;
    r.tokenRefresh({ result: 'refused', error: refused }, 'ss-1');
    const view = r.view(null);
    expect(view).toMatchObject({ ready: false, code: 'PCM_TOKEN_REFUSED', since: new Date(START).toISOString() });
    expect(view.reason).toBe('token request for client_id ss-1 refused: token endpoint answered 400: {"error":"invalid_client"}');
    clock.now += 1000;
    r.tokenRefresh({ result: 'ok', expiresAt: clock.now + 3_600_000 }, 'ss-1');
    expect(r.view(null)).toMatchObject({ ready: true, since: new Date(clock.now).toISOString(), tokenRefreshes: { ok: 1, refused: 2, error: 1 } });
  });

  it('a 403 holds until a batch is answered: a dead letter (progress without an answer) does not clear it', () => {
    const { r, clock } = lane();
    r.forbiddenBy('report API answered 403: {"message":"Forbidden"}');
    r.progressed();
    expect(r.view(null)).toMatchObject({ ready: false, code: 'PCM_REPORT_FORBIDDEN', reason: 'report API answered 403: {"message":"Forbidden"}' });
    clock.now += 1000;
    r.answered();
    r.progressed();
    expect(r.view(null)).toMatchObject({ ready: true, since: new Date(clock.now).toISOString() });
  });

  it("an agent's aggregator refusing it (401, 403, an organisation it lacks) holds the same way, under its own code", () => {
    const { r } = lane();
    r.forbiddenBy('the aggregator answered 401: Unauthorized: the bearer token is not one this ingest accepts', 'PCM_FORWARD_REFUSED');
    expect(r.view(null)).toMatchObject({ ready: false, code: 'PCM_FORWARD_REFUSED', reason: expect.stringContaining('answered 401') });
    r.answered();
    r.progressed();
    expect(r.view(null).ready).toBe(true);
  });

  it('names the first cause that holds — credential, token, 403, stall — and keeps the time it first became not ready', () => {
    const { r, clock, backlog } = lane();
    backlog.oldest = START;
    clock.now += STALL_MS;
    expect(r.view(null).code).toBe('PCM_LANE_STALLED');
    r.forbiddenBy('report API answered 403');
    expect(r.view(null).code).toBe('PCM_REPORT_FORBIDDEN');
    r.tokenRefresh({ result: 'refused', error: refused }, 'ss-1');
    expect(r.view(null).code).toBe('PCM_TOKEN_REFUSED');
    r.credentialUnusable('PCM_CERT_FILE: file does not exist');
    expect(r.view(null)).toMatchObject({ code: 'PCM_CREDENTIAL_UNUSABLE', since: new Date(START + STALL_MS).toISOString() });

    r.credentialUnusable(null);
    expect(r.view(null).code).toBe('PCM_TOKEN_REFUSED');
    r.tokenRefresh({ result: 'ok', expiresAt: clock.now + 1 }, 'ss-1');
    expect(r.view(null).code).toBe('PCM_REPORT_FORBIDDEN');
    r.answered();
    // Still no progress: the reports are still waiting.
    expect(r.view(null).code).toBe('PCM_LANE_STALLED');
    r.progressed();
    backlog.oldest = null;
    expect(r.view(null).ready).toBe(true);
  });
});
