import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BacklogWatch } from '../../src/alerts/backlog-watch.js';
import { Bursts } from '../../src/alerts/bursts.js';
import { readinessEvent, slaEvent, tooOldEvent } from '../../src/alerts/sources.js';
import { TokenError } from '../../src/errors.js';
import { LaneReadiness, type ReadinessChange } from '../../src/sender/readiness.js';
import { SlaTracker } from '../../src/sla/tracker.js';
import type { DayVerdict } from '../../src/sla/assess.js';
import { brtDay } from '../../src/spool/days.js';
import { laneOf, Spool, type NewReport } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';

/**
 * Where the events come from: the hooks the sources got (readiness, SLA tracker, spool age limit) call their
 * listener once per change, and the room turns each into its event. Controllable clocks, no servers.
 */

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const LANE = laneOf('private', ORG);
const silent = pino({ level: 'silent' });

describe('event sources', () => {
  it('TOKEN.FAILED: raised when a lane becomes not ready for a refused token, not again while it stays so, cleared with a token', () => {
    let now = 1_000_000;
    const changes: ReadinessChange[] = [];
    const readiness = new LaneReadiness(LANE, 300_000, () => null, silent, () => now, (c) => changes.push(c));
    const refused = { result: 'refused' as const, error: new TokenError('400 invalid_client', false, 400) };
    readiness.tokenRefresh(refused, 'client-ss');
    now += 1000;
    readiness.tokenRefresh(refused, 'client-ss');
    readiness.tokenRefresh({ result: 'ok', expiresAt: now + 3_600_000 }, 'client-ss');
    const events = changes.map(readinessEvent);
    expect(events.map((e) => e && [e.code, e.state, e.lane, e.orgId])).toEqual([
      ['TOKEN.FAILED', 'raised', LANE, ORG],
      ['TOKEN.FAILED', 'cleared', LANE, ORG],
    ]);
    expect(events[0]?.message).toBe('token request for client_id client-ss refused: 400 invalid_client');
    // A 403 makes the lane not ready too, but it is no token failure.
    readiness.forbiddenBy('report API answered 403');
    expect(changes.at(-1)).toMatchObject({ ready: false, code: 'PCM_REPORT_FORBIDDEN' });
    expect(readinessEvent(changes.at(-1) as ReadinessChange)).toBeNull();
  });

  it('TOKEN.FAILED also when a stalled lane (already not ready) then has its token refused', () => {
    let now = 0;
    const changes: ReadinessChange[] = [];
    const readiness = new LaneReadiness(LANE, 1000, () => 0, silent, () => now, (c) => changes.push(c));
    now = 5000;
    expect(readiness.view(null).code).toBe('PCM_LANE_STALLED');
    readiness.tokenRefresh({ result: 'refused', error: new TokenError('401 ClientId is not valid to the orgId', false, 401) }, 'c');
    expect(changes.map((c) => [c.previousCode, c.code])).toEqual([
      [null, 'PCM_LANE_STALLED'],
      ['PCM_LANE_STALLED', 'PCM_TOKEN_REFUSED'],
    ]);
    expect(readinessEvent(changes[1] as ReadinessChange)).toMatchObject({ code: 'TOKEN.FAILED', state: 'raised' });
  });

  it('SLA.AT_RISK: the tracker tells each change once, raised and cleared, with the day', () => {
    let now = Date.parse('2026-12-02T10:00:00Z'); // 07:00 BRT of D+1
    let onTime = 0;
    const verdicts: DayVerdict[] = [];
    const tracker = new SlaTracker(
      () => [{ day: brtDay(Date.parse('2026-12-01T12:00:00Z')), lane: LANE, received: 100, delivered: onTime, onTime, discarded: 0, tooOld: 0 }],
      silent,
      () => now,
      (v) => verdicts.push(v),
    );
    tracker.status();
    now += 1000;
    tracker.status();
    onTime = 99;
    now += 1000;
    tracker.status();
    expect(verdicts.map((v) => [v.day, v.atRisk])).toEqual([
      ['2026-12-01', true],
      ['2026-12-01', false],
    ]);
    expect(verdicts.map((v) => slaEvent(v)).map((e) => [e.code, e.state, e.day])).toEqual([
      ['SLA.AT_RISK', 'raised', '2026-12-01'],
      ['SLA.AT_RISK', 'cleared', '2026-12-01'],
    ]);
    // A day that missed its deadline stays raised, with the outcome: a receiver must not close it.
    const missed = slaEvent({ ...verdicts[1]!, atRisk: false, outcome: 'missed' });
    expect([missed.state, missed.message, missed.details?.outcome]).toEqual(['raised', `day 2026-12-01 missed 95 % at the PCM by ${verdicts[1]!.deadline}`, 'missed']);
  });

  it('REPORT.DISCARDED (too-old): the spool tells the lane, the reports and the message of the dead letters it makes at lease', async () => {
    const t0 = Date.parse('2026-12-01T12:00:00Z');
    let now = t0;
    const told: { lane: string; bodies: readonly string[]; message: string }[] = [];
    const spool = new Spool({
      path: join(await tempDir('alerts-tooold'), 'spool.db'),
      sync: 'normal',
      maxAgeMs: 7 * 86_400_000,
      now: () => now,
      onTooOld: (lane, bodies, message) => told.push({ lane, bodies, message }),
    });
    try {
      const report = (i: number, at: number): NewReport => ({
        stream: 'private', orgId: ORG, repairs: [], dedupKey: `k${i}`, fapiInteractionId: `fapi-${i}`, at, json: JSON.stringify({ fapiInteractionId: `fapi-${i}` }),
      });
      await spool.write({ reports: [report(0, t0 - 6 * 86_400_000), report(1, t0 - 6 * 86_400_000), report(2, t0)], rejected: [] });
      now = t0 + 2 * 86_400_000;
      const batch = spool.lease(LANE, 10, 1 << 20);
      expect(batch?.rows).toHaveLength(1);
      // Told once the ledger change is made, not from inside it.
      expect(told).toHaveLength(0);
      await new Promise((r) => setImmediate(r));
      expect(told).toHaveLength(1);
      expect(told[0]?.lane).toBe(LANE);
      const event = tooOldEvent(told[0]!.lane, told[0]!.bodies, told[0]!.message, 5);
      expect(event).toMatchObject({ code: 'REPORT.DISCARDED', reason: 'too-old', count: 2, lane: LANE, orgId: ORG, fapiInteractionIds: ['fapi-0', 'fapi-1'] });
      expect(event.message).toMatch(/^Not sent: older than 168 h/);
    } finally {
      await spool.close();
    }
  });

  it('SPOOL.BACKLOG_HIGH: raised above a threshold, cleared under 90 % of both, once each way', () => {
    const watch = new BacklogWatch(60_000, 1000);
    expect(watch.check({ count: 10, oldestAgeMs: 1000, oldestLane: LANE })).toBeNull();
    expect(watch.check({ count: 10, oldestAgeMs: 61_000, oldestLane: LANE })).toMatchObject({ code: 'SPOOL.BACKLOG_HIGH', state: 'raised', details: { oldestLane: LANE } });
    expect(watch.check({ count: 1001, oldestAgeMs: 70_000, oldestLane: LANE })).toBeNull();
    expect(watch.check({ count: 950, oldestAgeMs: 1000, oldestLane: LANE })).toBeNull(); // not under 90 % of 1000 yet
    expect(watch.check({ count: 10, oldestAgeMs: 1000, oldestLane: null })).toMatchObject({ state: 'cleared' });
    const countOnly = new BacklogWatch(0, 5);
    expect(countOnly.check({ count: 6, oldestAgeMs: 10 ** 9, oldestLane: LANE })).toMatchObject({ state: 'raised', message: 'backlog above its threshold: 6 reports wait' });
  });

  it('bursts: counts add up per key, the sample keeps the first ids, the window closes on time, and a restored burst keeps its order', () => {
    const bursts = new Bursts(1000, 3);
    const event = (lane: string, ids: string[]) => ({ code: 'REPORT.DISCARDED' as const, lane, reason: 'pcm', count: ids.length, fapiInteractionIds: ids });
    expect(bursts.add(event('a', ['1', '2']), 0)).toEqual([]);
    expect(bursts.add(event('b', ['9']), 10)).toEqual([]);
    expect(bursts.add(event('a', ['2', '3', '4']), 20)).toEqual([]);
    expect(bursts.due(999)).toEqual([]);
    const [a, b] = bursts.due(1010);
    expect(a).toMatchObject({ count: 5, events: 2, sample: ['1', '2', '3'], fields: { lane: 'a' } });
    expect(b).toMatchObject({ count: 1, fields: { lane: 'b' } });
    const restored = new Bursts(1000, 3, [{ ...(b as NonNullable<typeof b>), seq: 41 }]);
    restored.add(event('c', []), 2000);
    expect(restored.all().map((x) => [x.fields.lane, x.seq])).toEqual([
      ['b', 41],
      ['c', 42],
    ]);
  });
});
