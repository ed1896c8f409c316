import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/random.js';
import { laneOf, Spool, type LeasedBatch, type NewReport } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';

/**
 * Model-based test of the spool (reliability-lessons.md, test 2): random sequences of write, lease, complete,
 * release, prune and crash-and-reopen, compared after every step with a plain in-memory model of what must hold.
 */

type State = 'pending' | 'inflight' | 'accepted' | 'discarded';
const ORGS = ['062c5edb-4e83-5002-9981-e2a96c5ad41e', 'c160a6f5-e5df-5067-9e97-ec6fba62fd87'];
const LANES = ORGS.map((o) => laneOf('private', o));
const SEQUENCES = 25;
const STEPS = 120;

function report(key: number, orgId: string): NewReport {
  return { stream: 'private', orgId, dedupKey: `k${key}`, fapiInteractionId: `id-${key}`, json: `{"k":${key}}`, repairs: [] };
}

describe('spool model check', () => {
  it(`${SEQUENCES} random sequences of ${STEPS} steps keep the spool equal to the model`, async () => {
    const dir = await tempDir('model');
    for (let seq = 0; seq < SEQUENCES; seq++) {
      const rand = mulberry32(1000 + seq);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      const path = join(dir, `model-${seq}.db`);
      let spool = new Spool({ path, sync: 'normal' });
      // The model: state per key, which key lives in which lane, and the batches currently leased.
      const model = new Map<number, { state: State; lane: string; id: number | null }>();
      let leases: LeasedBatch[] = [];
      let nextKey = 0;
      const trace: string[] = [];

      const check = (): void => {
        const counts = spool.counts();
        const expected = { pending: 0, inflight: 0, accepted: 0, discarded: 0 };
        for (const entry of model.values()) expected[entry.state]++;
        expect({ ...counts, quarantined: undefined }, trace.join(' ')).toEqual({ ...expected, quarantined: undefined });
      };

      for (let step = 0; step < STEPS; step++) {
        const action = pick(['write', 'write', 'write', 'lease', 'lease', 'complete', 'release', 'crash', 'prune']);
        trace.push(action);
        if (action === 'write') {
          // Some keys repeat: the spool must store them once.
          const keys = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => (rand() < 0.2 && nextKey > 0 ? Math.floor(rand() * nextKey) : nextKey++));
          const reports = keys.map((k) => report(k, model.get(k) ? ORGS[LANES.indexOf(model.get(k)!.lane)]! : pick(ORGS)));
          const outcome = await spool.write({ reports, rejected: [] });
          const seen = new Set<number>();
          keys.forEach((k, i) => {
            const duplicate = model.has(k) || seen.has(k);
            expect(outcome[i], trace.join(' ')).toBe(duplicate ? 'duplicate' : 'stored');
            seen.add(k);
            if (!model.has(k)) model.set(k, { state: 'pending', lane: laneOf('private', reports[i]!.orgId), id: null });
          });
        } else if (action === 'lease') {
          const lane = pick(LANES);
          const max = 1 + Math.floor(rand() * 6);
          const batch = spool.lease(lane, max, 1_000_000);
          const pendingInLane = [...model.entries()].filter(([, e]) => e.lane === lane && e.state === 'pending');
          if (!batch) {
            expect(pendingInLane, trace.join(' ')).toEqual([]);
          } else {
            // Oldest first: the first `max` pending keys of the lane, in insertion order.
            const expectedKeys = pendingInLane.slice(0, max).map(([k]) => k);
            expect(batch.rows.map((r) => Number(JSON.parse(r.body).k)), trace.join(' ')).toEqual(expectedKeys);
            batch.rows.forEach((r, i) => Object.assign(model.get(expectedKeys[i]!)!, { state: 'inflight', id: r.id }));
            leases.push(batch);
          }
        } else if (action === 'complete' && leases.length > 0) {
          const batch = leases.splice(Math.floor(rand() * leases.length), 1)[0]!;
          const results = batch.rows.map((r) => ({ id: r.id, state: rand() < 0.9 ? ('accepted' as const) : ('discarded' as const), reportId: 'r', message: null }));
          spool.complete(results);
          results.forEach((r, i) => (model.get(Number(JSON.parse(batch.rows[i]!.body).k))!.state = r.state));
        } else if (action === 'release' && leases.length > 0) {
          const batch = leases.splice(Math.floor(rand() * leases.length), 1)[0]!;
          spool.release(batch.rows.map((r) => r.id), 'test');
          for (const r of batch.rows) model.get(Number(JSON.parse(r.body).k))!.state = 'pending';
        } else if (action === 'crash') {
          // The process dies with leases outstanding: at the next open every in-flight row is pending again.
          await spool.close();
          spool = new Spool({ path, sync: 'normal' });
          const inflight = [...model.values()].filter((e) => e.state === 'inflight').length;
          expect(spool.recoveredInflight, trace.join(' ')).toBe(inflight);
          for (const e of model.values()) if (e.state === 'inflight') e.state = 'pending';
          leases = [];
        } else if (action === 'prune') {
          const deleted = spool.pruneDelivered(Number.POSITIVE_INFINITY, 1000);
          const delivered = [...model.entries()].filter(([, e]) => e.state === 'accepted' || e.state === 'discarded');
          expect(deleted, trace.join(' ')).toBe(delivered.length);
          for (const [k] of delivered) model.delete(k);
        }
        check();
      }
      await spool.close();
    }
  });
});
