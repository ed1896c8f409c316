import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { brtDay } from '../../src/spool/days.js';
import { ReconcileStore, SAMPLED, type DueEntry, type NewEntry } from '../../src/reconcile/store.js';
import type { RecordedStatus } from '../../src/reconcile/status.js';
import { tempDir } from '../helpers/pki.js';

const T0 = Date.parse('2026-11-22T12:00:00.000Z');
const DAY = 86_400_000;

function entry(i: number, over: Partial<NewEntry> = {}): NewEntry {
  const at = over.at ?? T0 + i;
  return {
    lane: 'private:org-a',
    fapiInteractionId: `f-${i}`,
    role: 'CLIENT',
    endpoint: i % 2 === 0 ? '/open-banking/accounts/v2/accounts' : '/open-banking/loans/v2/contracts',
    httpMethod: 'GET',
    statusCode: 200,
    counterpartOrgId: 'org-b',
    at,
    day: brtDay(at),
    acceptedAt: at + 1000,
    reportId: `r-${i}`,
    dueAt: at + 3_600_000,
    ...over,
  };
}

function answer(store: ReconcileStore, e: DueEntry, status: RecordedStatus, at: number, dueAt: number | null, differing: string[] | null = null): void {
  store.update({ entry: e, status, differing, pairedReportId: status.startsWith('PAIRED') ? 'p-1' : null, failed: false, at, dueAt });
}

/** The tallies recounted from the rows, as the store must keep them. */
function recount(path: string): Record<string, number> {
  const db = new Database(path, { readonly: true });
  try {
    const out: Record<string, number> = {};
    for (const r of db.prepare('SELECT day, endpoint, status, count(*) AS n FROM entries WHERE status IS NOT NULL GROUP BY 1, 2, 3').all() as { day: number; endpoint: string; status: string; n: number }[]) {
      out[`${r.day}|${r.endpoint}|${r.status}`] = r.n;
    }
    for (const r of db.prepare('SELECT day, endpoint, count(*) AS n FROM entries GROUP BY 1, 2').all() as { day: number; endpoint: string; n: number }[]) {
      out[`${r.day}|${r.endpoint}|${SAMPLED}`] = r.n;
    }
    return out;
  } finally {
    db.close();
  }
}

const talliesOf = (store: ReconcileStore): Record<string, number> =>
  Object.fromEntries(store.days().tallies.map((t) => [`${t.day}|${t.endpoint}|${t.status}`, t.n]));

describe('reconciliation store: its own SQLite file, buffered writes, tallies in step with the rows', () => {
  it('writes nothing until flush, then everything in one go; the same report is followed once', async () => {
    const path = join(await tempDir('rec-store'), 'r.db');
    const store = new ReconcileStore(path);
    store.consider(brtDay(T0), 10);
    for (let i = 0; i < 4; i++) store.add(entry(i));
    store.add(entry(0)); // the same lane and fapiInteractionId: ignored
    expect(store.size).toBe(5);
    expect(store.days().days).toEqual([]);
    expect(store.flush()).toBe(T0 + 3_600_000);
    expect(store.size).toBe(4);
    expect(store.days().days).toEqual([{ day: brtDay(T0), considered: 10, sampled: 4 }]);
    expect(talliesOf(store)).toEqual(recount(path));
    store.close();
  });

  it('serves first asks before asks again, oldest due first, and moves tallies with each answer', async () => {
    const path = join(await tempDir('rec-store'), 'r.db');
    const store = new ReconcileStore(path);
    for (let i = 0; i < 6; i++) store.add(entry(i, { dueAt: T0 + 1000 * (6 - i) }));
    store.flush();
    expect(store.due(T0, 10)).toEqual([]);
    const due = store.due(T0 + 10_000, 10);
    expect(due.map((d) => d.fapiInteractionId)).toEqual(['f-5', 'f-4', 'f-3', 'f-2', 'f-1', 'f-0']);
    // Two get UNPAIRED (asked again, due at once), one PAIRED, one PAIRED_INCONSISTENT with the fields the PCM named.
    answer(store, due[0]!, 'UNPAIRED', T0 + 10_000, T0 + 10_000);
    answer(store, due[1]!, 'UNPAIRED', T0 + 10_000, T0 + 10_000);
    answer(store, due[2]!, 'PAIRED', T0 + 10_000, null);
    answer(store, due[3]!, 'PAIRED_INCONSISTENT', T0 + 10_001, null, ['statusCode']);
    // f-1 and f-0 have not been asked: they come before the re-asks although those are due as early.
    const next = store.due(T0 + 20_000, 3);
    // Of the two re-asks due at the same time, the one followed first.
    expect(next.map((d) => [d.fapiInteractionId, d.asks])).toEqual([['f-1', 0], ['f-0', 0], ['f-4', 1]]);
    expect(talliesOf(store)).toEqual(recount(path));
    // f-4 pairs on its second ask: UNPAIRED −1, PAIRED +1.
    answer(store, next[2]!, 'PAIRED', T0 + 20_000, null);
    store.flush();
    expect(talliesOf(store)).toEqual(recount(path));
    expect(store.pending()).toEqual({ first: 2, again: 1 });
    expect(store.nextDue()).toBe(T0 + 5000); // f-1, not yet asked

    const divergent = store.divergent({ offset: 0, limit: 10 });
    expect(divergent.total).toBe(2);
    expect(divergent.data.map((d) => [d.fapiInteractionId, d.status, d.differingFields, d.final])).toEqual([
      ['f-2', 'PAIRED_INCONSISTENT', ['statusCode'], true],
      ['f-5', 'UNPAIRED', null, false],
    ]);
    expect(divergent.data[0]).toMatchObject({ lane: 'private:org-a', role: 'CLIENT', counterpartOrgId: 'org-b', reportId: 'r-2', pairedReportId: 'p-1', day: '2026-11-22' });
    expect(store.divergent({ status: 'UNPAIRED', offset: 0, limit: 10 }).data.map((d) => d.fapiInteractionId)).toEqual(['f-5']);
    expect(store.divergent({ offset: 1, limit: 1 }).data.map((d) => d.fapiInteractionId)).toEqual(['f-5']);
    store.close();
  });

  it('counts a failed ask without moving a tally; an answer for an entry pruned meanwhile changes nothing', async () => {
    const path = join(await tempDir('rec-store'), 'r.db');
    const store = new ReconcileStore(path);
    store.add(entry(1, { at: T0 - 3 * DAY }));
    store.add(entry(2));
    store.flush();
    const [old, young] = store.due(T0 + DAY, 10) as [DueEntry, DueEntry];
    store.update({ entry: young, status: null, differing: null, pairedReportId: null, failed: true, at: T0, dueAt: T0 + 60_000 });
    expect(store.prune(brtDay(T0 - DAY))).toBe(1);
    answer(store, old, 'UNPAIRED', T0, null);
    store.flush();
    expect(store.size).toBe(1);
    expect(store.due(T0 + 60_000, 10)).toMatchObject([{ fapiInteractionId: 'f-2', asks: 0, errors: 1 }]);
    expect(talliesOf(store)).toEqual(recount(path));
    expect(store.days().days.map((d) => d.day)).toEqual([brtDay(T0)]);
    store.close();
  });

  it('prunes a day in bounded chunks, its counts and tallies once its last entry is gone', async () => {
    const path = join(await tempDir('rec-store'), 'r.db');
    const store = new ReconcileStore(path);
    const old = T0 - 9 * DAY;
    store.consider(brtDay(old), 6000);
    for (let i = 0; i < 5003; i++) store.add(entry(i, { at: old + i }));
    store.add(entry(9999));
    store.flush();
    expect(store.prune(brtDay(T0 - 8 * DAY))).toBe(5000);
    expect(store.days().days.map((d) => d.day)).toContain(brtDay(old));
    expect(store.prune(brtDay(T0 - 8 * DAY))).toBe(3);
    expect(store.days().days.map((d) => d.day)).toEqual([brtDay(T0)]);
    expect(store.size).toBe(1);
    expect(talliesOf(store)).toEqual(recount(path));
    store.close();
  });

  it('survives a restart: entries, due times, day counts and tallies are read back', async () => {
    const path = join(await tempDir('rec-store'), 'r.db');
    let store = new ReconcileStore(path);
    store.consider(brtDay(T0), 7);
    for (let i = 0; i < 3; i++) store.add(entry(i));
    store.flush();
    const due = store.due(T0 + 3_600_000, 10);
    answer(store, due[0]!, 'UNPAIRED', T0 + 3_600_000, T0 + 7_200_000);
    store.close(); // flushes what is buffered
    store = new ReconcileStore(path);
    expect(store.size).toBe(3);
    expect(store.days().days).toEqual([{ day: brtDay(T0), considered: 7, sampled: 3 }]);
    expect(store.due(T0 + 7_200_000, 10).map((d) => [d.fapiInteractionId, d.status])).toEqual([
      ['f-1', null],
      ['f-2', null],
      ['f-0', 'UNPAIRED'],
    ]);
    expect(talliesOf(store)).toEqual(recount(path));
    store.close();
  });

  it('moves an unreadable file aside and starts anew', async () => {
    const dir = await tempDir('rec-store');
    const path = join(dir, 'r.db');
    writeFileSync(path, 'this is not a database, '.repeat(200));
    const store = new ReconcileStore(path);
    expect(store.movedAside).toMatch(/r\.db\.corrupt-/);
    expect(existsSync(store.movedAside!)).toBe(true);
    expect(store.size).toBe(0);
    store.close();
  });
});
