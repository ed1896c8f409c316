import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/random.js';
import { laneOf, Spool, type EndpointDay, type LeasedBatch, type NewReport } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';
import { asSchema4Release, scanEndpointDays } from '../helpers/spool-scan.js';
import { V2_DDL } from '../helpers/spool-v2.js';

/**
 * Model-based test of the spool (reliability-lessons.md, test 2): random sequences of write, lease, complete,
 * release, prune and crash-and-reopen, compared after every step with a plain in-memory model of what must hold.
 * Odd sequences commit through the writer thread; every third one starts from a version-2 file (migrate). One
 * report in five is late (stored hours after its timestamp): the model expects it before the lane's oldest waiting
 * report when its timestamp is older (spool.ts lease). Now and then a write goes by as a release of schema 4 makes it
 * (after a rollback: the per-endpoint counters not written): the days it stored into must show as unbalanced.
 */

type State = 'pending' | 'inflight' | 'accepted' | 'discarded';
const ORGS = ['062c5edb-4e83-5002-9981-e2a96c5ad41e', 'c160a6f5-e5df-5067-9e97-ec6fba62fd87'];
const LANES = ORGS.map((o) => laneOf('private', o));
const SEQUENCES = 25;
const STEPS = 120;

/** Timestamps of late reports: hours before the test runs, older for higher keys. */
const LATE_BASE = Date.now() - 3 * 3_600_000;
/** Timestamps of the reports a rolled-back release stores (asSchema4Release): two days before. */
const ROLLBACK_BASE = Date.now() - 48 * 3_600_000;

/** Three endpoints (one: none in the body); every other report gives its endpoint, the others leave it to the spool. */
function report(key: number, orgId: string, at?: number): NewReport {
  const endpoint = key % 3 === 2 ? '' : `/open-banking/e${key % 3}/v1/items`;
  const json = endpoint === '' ? `{"k":${key}}` : `{"k":${key},"endpoint":"${endpoint}"}`;
  return { stream: 'private', orgId, dedupKey: `k${key}`, fapiInteractionId: `id-${key}`, json, repairs: [], ...(key % 2 === 0 ? { endpoint } : {}), ...(at === undefined ? {} : { at }) };
}

type Figures = Omit<EndpointDay, 'day' | 'endpoint' | 'pending'>;
type Tally = Map<string, Figures>;
const FIGURES = ['received', 'accepted', 'discarded', 'tooOld'] as const;

/** Per day and endpoint, from a scan of the log (day 0: rows migrated from version 2, never counted). */
function figuresIn(reader: Database.Database): Map<string, EndpointDay> {
  return new Map(scanEndpointDays(reader).filter((e) => e.day > 0).map((e) => [`${e.day} ${e.endpoint}`, e]));
}

const V2_STATES = ['pending', 'inflight', 'accepted', 'discarded'] as const;

/** A version-2 file with `n` rows in random states; returns the keys the migrated spool must hold, by state. */
function versionTwoFile(path: string, n: number, rand: () => number): Map<number, { state: State; lane: string }> {
  const db = new Database(path);
  db.exec(V2_DDL);
  const insert = db.prepare(
    "INSERT INTO reports (org_id, lane, dedup_key, body, bytes, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, 1)",
  );
  const kept = new Map<number, { state: State; lane: string }>();
  for (let key = 0; key < n; key++) {
    const org = ORGS[Math.floor(rand() * ORGS.length)]!;
    const state = V2_STATES[Math.floor(rand() * V2_STATES.length)]!;
    const r = report(key, org);
    insert.run(org, laneOf('private', org), createHash('sha256').update(r.dedupKey).digest().subarray(0, 16), r.json, Buffer.byteLength(r.json), state);
    // Accepted rows are not carried over; in-flight ones come back pending.
    if (state !== 'accepted') kept.set(key, { state: state === 'discarded' ? 'discarded' : 'pending', lane: laneOf('private', org) });
  }
  db.pragma('user_version = 2');
  db.close();
  return kept;
}

describe('spool model check', () => {
  it(`${SEQUENCES} random sequences of ${STEPS} steps keep the spool equal to the model`, async () => {
    const dir = await tempDir('model');
    /** Sequences where a rolled-back release wrote into counted days: the check of them is not left untried. */
    let unbalancedSeen = 0;
    for (let seq = 0; seq < SEQUENCES; seq++) {
      const rand = mulberry32(1000 + seq);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      const path = join(dir, `model-${seq}.db`);
      const writerThread = seq % 2 === 1;
      const open = (): Promise<Spool> => Spool.open({ path, sync: 'normal', writerThread });
      // The model: state per key, which key lives in which lane, and the batches currently leased.
      const model = new Map<number, { state: State; lane: string; id: number | null; late?: number; migrated?: boolean }>();
      let nextKey = 0;
      if (seq % 3 === 0) {
        const migrated = versionTwoFile(path, Math.floor(rand() * 30), rand);
        nextKey = 30;
        for (const [k, e] of migrated) model.set(k, { ...e, id: null, migrated: true });
      }
      let spool = await open();
      const reader = new Database(path, { readonly: true });
      /** Per day and endpoint, the figures of the rows pruned so far: the counters keep them. */
      const pruned: Tally = new Map();
      /** Days a write stored reports into as a schema-4 release would (asSchema4Release). */
      const rolledBack = new Set<number>();
      let leases: LeasedBatch[] = [];
      const trace: string[] = [];

      const check = async (): Promise<void> => {
        // Through the writer thread, answers reach the file after the call returns.
        await spool.flush();
        const counts = spool.counts();
        const expected = { pending: 0, inflight: 0, accepted: 0, discarded: 0 };
        for (const entry of model.values()) expected[entry.state]++;
        expect({ ...counts, quarantined: undefined }, trace.join(' ')).toEqual({ ...expected, quarantined: undefined });
        // The admin listing's totals and pages without a filter, or by status only, come from the ledger and the small
        // tables: the same as a scan of the log (a time window that holds every report makes it one).
        const queries = spool.queries();
        const paging = mulberry32(seq * 10_000 + trace.length);
        for (const status of [undefined, 'pending', 'inflight', 'delivered', 'discarded'] as const) {
          const scanned = queries.reports({ status, from: Number.MIN_SAFE_INTEGER }, { offset: 0, limit: 1000 });
          // The pending ranges read from the tables, and as the running spool's ledger has them.
          for (const pending of [undefined, spool.pendingRanges()]) {
            const ranged = queries.reports({ status }, { offset: 0, limit: 1000 }, pending);
            expect(ranged, `${status} ${trace.join(' ')}`).toEqual(scanned);
            const offset = Math.floor(paging() * (scanned.total + 2));
            const limit = 1 + Math.floor(paging() * 6);
            const page = queries.reports({ status }, { offset, limit }, pending);
            expect([page.total, page.rows.map((r) => r.id)], `${status} ${offset} ${limit} ${trace.join(' ')}`).toEqual([
              scanned.total,
              scanned.rows.slice(offset, offset + limit).map((r) => r.id),
            ]);
          }
        }
        // Per day and endpoint: the counters are the rows in the log (by state) and those pruned, whatever the order of
        // writes, answers, crashes and pruning; days a rolled-back release wrote into are named and left out.
        const figures = queries.endpointDays(0);
        const counted = (day: number): boolean => day >= figures.countedFrom && !rolledBack.has(day);
        expect(figures.unbalanced, trace.join(' ')).toEqual([...rolledBack].filter((d) => d >= figures.countedFrom).sort((a, b) => a - b));
        const inLog = figuresIn(reader);
        for (const [key, p] of pruned) {
          const day = Number(key.slice(0, key.indexOf(' ')));
          const e = inLog.get(key) ?? { day, endpoint: key.slice(key.indexOf(' ') + 1), received: 0, accepted: 0, discarded: 0, tooOld: 0, pending: 0 };
          for (const f of FIGURES) e[f] += p[f];
          inLog.set(key, e);
        }
        const rows = [...inLog.values()]
          .filter((e) => counted(e.day))
          .sort((a, b) => a.day - b.day || (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
        expect(figures, trace.join(' ')).toEqual({ countedFrom: figures.countedFrom, rows, unbalanced: figures.unbalanced, truncated: false });
        // Migrated: counted from the day after the migration.
        if (seq % 3 === 0) expect(figures.rows, trace.join(' ')).toEqual([]);
        else expect(figures.countedFrom).toBe(0);
      };

      for (let step = 0; step < STEPS; step++) {
        const action = pick(['write', 'write', 'write', 'lease', 'lease', 'complete', 'release', 'crash', 'prune', rand() < 0.2 ? 'rollback' : 'write']);
        trace.push(action);
        if (action === 'write' || action === 'rollback') {
          // Some keys repeat: the spool must store them once.
          const keys = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => (rand() < 0.2 && nextKey > 0 ? Math.floor(rand() * nextKey) : nextKey++));
          // A rolled-back release's reports are of days of their own (two days back), so the rest stay checked.
          const lateAt = new Map(
            action === 'rollback'
              ? keys.map((k) => [k, model.get(k)?.late ?? ROLLBACK_BASE - k * 1000])
              : keys.filter(() => rand() < 0.2).map((k) => [k, model.get(k)?.late ?? LATE_BASE - k * 1000]),
          );
          const reports = keys.map((k) => report(k, model.get(k) ? ORGS[LANES.indexOf(model.get(k)!.lane)]! : pick(ORGS), model.has(k) ? model.get(k)!.late : lateAt.get(k)));
          if (action === 'rollback') asSchema4Release(path, true);
          const outcome = await spool.write({ reports, rejected: [] });
          if (action === 'rollback') {
            asSchema4Release(path, false);
            const dayOf = reader.prepare("SELECT (coalesce(ts, created_at) - 10800000) / 86400000 FROM log WHERE json_extract(body, '$.k') = ?").pluck();
            keys.forEach((k, i) => {
              if (outcome[i] === 'stored') rolledBack.add(dayOf.get(k) as number);
            });
          }
          const seen = new Set<number>();
          keys.forEach((k, i) => {
            const duplicate = model.has(k) || seen.has(k);
            expect(outcome[i], trace.join(' ')).toBe(duplicate ? 'duplicate' : 'stored');
            seen.add(k);
            if (!model.has(k)) model.set(k, { state: 'pending', lane: laneOf('private', reports[i]!.orgId), id: null, ...(lateAt.has(k) ? { late: lateAt.get(k)! } : {}) });
          });
        } else if (action === 'lease') {
          const lane = pick(LANES);
          const max = 1 + Math.floor(rand() * 6);
          const batch = spool.lease(lane, max, 1_000_000);
          const pendingInLane = [...model.entries()].filter(([, e]) => e.lane === lane && e.state === 'pending');
          if (!batch) {
            expect(pendingInLane, trace.join(' ')).toEqual([]);
          } else {
            // Oldest first, in insertion order — after the late ones whose timestamp is older than the head's.
            const [head] = pendingInLane;
            // Rows migrated from version 2 keep its created_at (1, see versionTwoFile); fresh ones are newer than late ones.
            const headAt = head?.[1].late ?? (head?.[1].migrated === true ? 1 : Number.POSITIVE_INFINITY);
            const lateFirst = pendingInLane.filter(([, e]) => e.late !== undefined && e.late < headAt).sort((a, b) => a[1].late! - b[1].late!);
            const rest = pendingInLane.filter((entry) => !lateFirst.includes(entry));
            const expectedKeys = [...lateFirst, ...rest].slice(0, max).map(([k]) => k);
            expect(batch.rows.map((r) => Number(JSON.parse(r.body).k)), trace.join(' ')).toEqual(expectedKeys);
            batch.rows.forEach((r, i) => Object.assign(model.get(expectedKeys[i]!)!, { state: 'inflight', id: r.id }));
            leases.push(batch);
          }
        } else if (action === 'complete' && leases.length > 0) {
          const batch = leases.splice(Math.floor(rand() * leases.length), 1)[0]!;
          // Counted per day and endpoint: the sender gives each row's; some callers do not (the spool reads it then).
          const results = batch.rows.map((r) => ({
            id: r.id, state: rand() < 0.9 ? ('accepted' as const) : ('discarded' as const), reportId: 'r', message: null, at: r.at, ...(rand() < 0.5 ? { endpoint: r.endpoint } : {}),
          }));
          spool.complete(results);
          results.forEach((r, i) => (model.get(Number(JSON.parse(batch.rows[i]!.body).k))!.state = r.state));
        } else if (action === 'release' && leases.length > 0) {
          const batch = leases.splice(Math.floor(rand() * leases.length), 1)[0]!;
          spool.release(batch.rows.map((r) => r.id));
          for (const r of batch.rows) model.get(Number(JSON.parse(r.body).k))!.state = 'pending';
        } else if (action === 'crash') {
          // The process dies with leases outstanding: at the next open every in-flight row is pending again.
          await spool.close();
          spool = await open();
          const inflight = [...model.values()].filter((e) => e.state === 'inflight').length;
          expect(spool.recoveredInflight, trace.join(' ')).toBe(inflight);
          for (const e of model.values()) if (e.state === 'inflight') e.state = 'pending';
          leases = [];
        } else if (action === 'prune') {
          // Delivered rows go, except pieces answered ahead of their lane's cursor (late ones), kept until it passes.
          await spool.flush();
          const before = figuresIn(reader);
          const deleted = spool.pruneDelivered(Number.POSITIVE_INFINITY, 1000);
          const after = figuresIn(reader);
          for (const [key, b] of before) {
            const p = pruned.get(key) ?? { received: 0, accepted: 0, discarded: 0, tooOld: 0 };
            for (const f of FIGURES) p[f] += b[f] - (after.get(key)?.[f] ?? 0);
            pruned.set(key, p);
          }
          const present = new Set((reader.prepare('SELECT body FROM log').pluck().all() as string[]).map((b) => Number(JSON.parse(b).k)));
          const gone = [...model.entries()].filter(([k]) => !present.has(k));
          for (const [, e] of gone) expect(e.state === 'accepted' || e.state === 'discarded', trace.join(' ')).toBe(true);
          expect(deleted, trace.join(' ')).toBe(gone.length);
          const delivered = [...model.values()].filter((e) => e.state === 'accepted' || e.state === 'discarded').length;
          // Only late sequences keep some back.
          if (![...model.values()].some((e) => e.late !== undefined)) expect(deleted, trace.join(' ')).toBe(delivered);
          for (const [k] of gone) model.delete(k);
        }
        await check();
      }
      if (spool.queries().endpointDays(0).unbalanced.length > 0) unbalancedSeen++;
      reader.close();
      await spool.close();
    }
    expect(unbalancedSeen).toBeGreaterThan(0);
  });
});
