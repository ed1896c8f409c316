import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/spool/group-commit.js';
import { laneOf, Spool, type NewReport } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';

const ORG_A = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const ORG_B = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';
const LANE_A = laneOf('private', ORG_A);
const LANE_B = laneOf('private', ORG_B);

function report(orgId: string, i: number, size = 10): NewReport {
  return { stream: 'private', orgId, repairs: [], dedupKey: `${orgId}|${i}`, fapiInteractionId: `id-${i}`, json: JSON.stringify({ i: String(i).padStart(4, '0'), pad: 'x'.repeat(size) }) };
}

async function freshSpool(): Promise<Spool> {
  return new Spool({ path: join(await tempDir('spool'), 'spool.db'), sync: 'full' });
}

describe('group commit', () => {
  it('commits every request submitted in one event-loop turn together, answering each only after the commit', async () => {
    const commits: number[][] = [];
    const committer = new GroupCommitter<number, string>((requests) => {
      commits.push([...requests]);
      return requests.map((r) => `done ${r}`);
    });
    const answers = Promise.all(Array.from({ length: 50 }, (_, i) => committer.submit(i)));
    expect(commits).toHaveLength(0);
    expect(await answers).toEqual(Array.from({ length: 50 }, (_, i) => `done ${i}`));
    expect(commits).toHaveLength(1);
    expect(commits[0]).toHaveLength(50);
  });

  it('fails every request of a group whose commit fails, and keeps serving later groups', async () => {
    let fail = true;
    const committer = new GroupCommitter<number, number>((requests) => {
      if (fail) throw new Error('disk full');
      return [...requests];
    });
    const failed = await Promise.allSettled([committer.submit(1), committer.submit(2)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await committer.submit(3)).toBe(3);
  });
});

describe('group commit limits', () => {
  it('bounds a group by weight: the rest waits for the next commit, and a request heavier than the bound goes alone', async () => {
    const commits: number[][] = [];
    const committer = new GroupCommitter<number, number>(
      (requests) => {
        commits.push([...requests]);
        return [...requests];
      },
      { limit: { weigh: (r) => r, max: 10 } },
    );
    expect(await Promise.all([4, 4, 4, 20, 1].map((w) => committer.submit(w)))).toEqual([4, 4, 4, 20, 1]);
    expect(commits).toEqual([[4, 4], [4], [20], [1]]);
  });
});

describe('group commit depth', () => {
  /** An asynchronous commit that answers only when the test says so, recording what it was handed. */
  function heldCommits(): { handed: number[][]; release: (i: number, fail?: boolean) => void; commit: (r: readonly number[]) => Promise<number[]> } {
    const handed: number[][] = [];
    const answers: { resolve: (v: number[]) => void; reject: (e: Error) => void; requests: number[] }[] = [];
    return {
      handed,
      commit: (requests) =>
        new Promise<number[]>((resolve, reject) => {
          handed.push([...requests]);
          answers.push({ resolve, reject, requests: [...requests] });
        }),
      release: (i, fail = false) => {
        const a = answers[i] as (typeof answers)[number];
        if (fail) a.reject(new Error('disk full'));
        else a.resolve(a.requests.map((r) => r * 10));
      },
    };
  }
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('with depth 2 hands the next group over while the first commits, never a third, and answers each after its own commit', async () => {
    const held = heldCommits();
    const committer = new GroupCommitter<number, number>(held.commit, { depth: 2 });
    const first = committer.submit(1);
    await turn();
    const second = committer.submit(2);
    await turn();
    const third = committer.submit(3);
    await turn();
    await turn();
    // Two groups are with the writer; the third waits for one of them to be answered.
    expect(held.handed).toEqual([[1], [2]]);
    let drained = false;
    void committer.drain().then(() => (drained = true));
    held.release(1);
    expect(await second).toBe(20);
    await turn();
    expect(held.handed).toEqual([[1], [2], [3]]);
    expect(drained).toBe(false);
    held.release(0, true);
    await expect(first).rejects.toThrow('disk full');
    await turn();
    // One group is still with the writer: not drained yet.
    expect(drained).toBe(false);
    held.release(2);
    expect(await third).toBe(30);
    await turn();
    expect(drained).toBe(true);
  });

  it('with depth 1 (the default) commits one group at a time', async () => {
    const held = heldCommits();
    const committer = new GroupCommitter<number, number>(held.commit);
    const first = committer.submit(1);
    await turn();
    const second = committer.submit(2);
    await turn();
    await turn();
    expect(held.handed).toEqual([[1]]);
    held.release(0);
    expect(await first).toBe(10);
    await turn();
    expect(held.handed).toEqual([[1], [2]]);
    held.release(1);
    expect(await second).toBe(20);
  });
});

describe('spool', () => {
  it('leases the oldest pending rows of one organisation, bounded by items and bytes, never fewer than one', async () => {
    const spool = await freshSpool();
    await spool.write({ reports: Array.from({ length: 30 }, (_, i) => report(i % 3 === 0 ? ORG_B : ORG_A, i, 100)), rejected: [] });
    const byItems = spool.lease(LANE_A, 5, 10_000_000)!;
    expect(byItems.rows).toHaveLength(5);
    expect(byItems.rows.map((r) => Number(JSON.parse(r.body).i))).toEqual([1, 2, 4, 5, 7]);
    const rowBytes = Buffer.byteLength(report(ORG_A, 0, 100).json);
    const byBytes = spool.lease(LANE_A, 100, 2 + rowBytes * 3 + 2)!;
    expect(byBytes.rows).toHaveLength(3);
    expect(byBytes.bytes).toBe(2 + rowBytes * 3 + 2);
    expect(spool.lease(LANE_A, 100, 10)!.rows).toHaveLength(1);
    expect(spool.counts()).toMatchObject({ pending: 21, inflight: 9 });
    expect(spool.backlog()).toEqual({ pending: 21, inflight: 9, quarantined: 0 });
    await spool.close();
  });

  it('records per-row results and returns released rows to pending, oldest first again', async () => {
    const spool = await freshSpool();
    await spool.write({ reports: Array.from({ length: 6 }, (_, i) => report(ORG_A, i)), rejected: [] });
    const first = spool.lease(LANE_A, 3, 1_000_000)!;
    spool.complete([
      { id: first.rows[0]!.id, state: 'accepted', reportId: 'r-0', message: null },
      { id: first.rows[1]!.id, state: 'discarded', reportId: 'r-1', message: 'Missing fields: httpMethod' },
    ]);
    spool.release([first.rows[2]!.id]);
    expect(spool.counts()).toMatchObject({ pending: 4, inflight: 0, accepted: 1, discarded: 1 });
    const again = spool.lease(LANE_A, 1, 1_000_000)!;
    expect(again.rows[0]!.id).toBe(first.rows[2]!.id);
    await spool.close();
  });

  it('returns rows left in flight by a crash to pending when opened again, and counts them', async () => {
    const path = join(await tempDir('spool'), 'crash.db');
    const spool = new Spool({ path, sync: 'normal' });
    await spool.write({ reports: Array.from({ length: 10 }, (_, i) => report(ORG_A, i)), rejected: [] });
    spool.lease(LANE_A, 4, 1_000_000);
    await spool.close();
    const reopened = new Spool({ path, sync: 'normal' });
    expect(reopened.recoveredInflight).toBe(4);
    expect(reopened.counts()).toMatchObject({ pending: 10, inflight: 0 });
    await reopened.close();
  });

  it('summarises the head of the backlog without reading past one page', async () => {
    const spool = await freshSpool();
    await spool.write({ reports: Array.from({ length: 50 }, (_, i) => report(ORG_A, i)), rejected: [] });
    const head = spool.pending(LANE_A, 20);
    expect(head.count).toBe(20);
    expect(head.bytes).toBe(Array.from({ length: 20 }, (_, i) => Buffer.byteLength(report(ORG_A, i).json)).reduce((a, b) => a + b));
    expect(head.oldestCreatedAt).not.toBeNull();
    expect(spool.pending(LANE_B, 20)).toEqual({ count: 0, bytes: 0, oldestCreatedAt: null });
    await spool.close();
  });

  it('knows when the oldest report not yet answered was stored, pending or in flight', async () => {
    const spool = await freshSpool();
    expect(spool.oldestUndelivered(LANE_A)).toBeNull();
    await spool.write({ reports: Array.from({ length: 3 }, (_, i) => report(ORG_A, i)), rejected: [] });
    const stored = spool.pending(LANE_A, 10).oldestCreatedAt;
    expect(stored).not.toBeNull();
    expect(spool.oldestUndelivered(LANE_A)).toBe(stored);
    // All in flight: nothing pending, still not answered.
    const batch = spool.lease(LANE_A, 10, 1_000_000)!;
    expect(spool.pending(LANE_A, 10).oldestCreatedAt).toBeNull();
    expect(spool.oldestUndelivered(LANE_A)).toBe(stored);
    spool.release([batch.rows[0]!.id]);
    expect(spool.oldestUndelivered(LANE_A)).toBe(stored);
    const answered = (rows: { id: number }[]) => rows.map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null }));
    spool.complete(answered(batch.rows.slice(1)));
    expect(spool.oldestUndelivered(LANE_A)).toBe(stored);
    spool.complete(answered(spool.lease(LANE_A, 10, 1_000_000)!.rows));
    expect(spool.oldestUndelivered(LANE_A)).toBeNull();
    expect(spool.oldestUndelivered(LANE_B)).toBeNull();
    await spool.close();
  });
});

describe('spool retention', () => {
  it('deletes only delivered rows past their retention, in bounded chunks, and forgets their duplicates', async () => {
    const spool = await freshSpool();
    await spool.write({ reports: Array.from({ length: 10 }, (_, i) => report(ORG_A, i)), rejected: [] });
    const batch = spool.lease(LANE_A, 6, 1_000_000)!;
    spool.complete(batch.rows.slice(0, 4).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: 'r', message: null })));
    spool.complete([{ id: batch.rows[4]!.id, state: 'discarded', reportId: 'r', message: 'Unlisted endpoint: /x' }]);
    // 4 accepted, 1 discarded, 1 in flight, 4 pending.
    expect(spool.pruneDelivered(Date.now() + 1000, 3)).toBe(3);
    expect(spool.pruneDelivered(Date.now() + 1000, 100)).toBe(2);
    expect(spool.pruneDelivered(Date.now() + 1000, 100)).toBe(0);
    expect(spool.counts()).toMatchObject({ pending: 4, inflight: 1, accepted: 0, discarded: 0 });
    expect(spool.pruneDelivered(0, 100)).toBe(0);
    // A pruned report is no longer a duplicate.
    expect(await spool.write({ reports: [report(ORG_A, 0)], rejected: [] })).toEqual(['stored']);
    await spool.close();
  });
});

describe('spool under adversity', () => {
  it('moves an unreadable spool file aside and starts a new one, keeping the old file', async () => {
    const { readFile, writeFile } = await import('node:fs/promises');
    const path = join(await tempDir('spool'), 'garbage.db');
    await writeFile(path, 'this is not a SQLite database, but it is 64 bytes or more long...........');
    const spool = new Spool({ path, sync: 'full' });
    expect(spool.movedAside).toMatch(/garbage\.db\.corrupt-/);
    expect(await readFile(spool.movedAside!, 'utf8')).toMatch(/^this is not a SQLite database/);
    expect(await spool.write({ reports: [report(ORG_A, 1)], rejected: [] })).toEqual(['stored']);
    await spool.close();
    const reopened = new Spool({ path, sync: 'full' });
    expect(reopened.movedAside).toBeNull();
    expect(reopened.counts().pending).toBe(1);
    await reopened.close();
  });

  it('when full, deletes delivered rows to make room, never undelivered ones, then refuses with SpoolFullError', async () => {
    const { SpoolFullError } = await import('../../src/errors.js');
    const spool = new Spool({ path: join(await tempDir('spool'), 'small.db'), sync: 'normal', maxBytes: 512 * 1024 });
    let i = 0;
    let stored = 0;
    let full: unknown = null;
    // Bounded: 512 KiB hold a few hundred 1 KB rows; stop at the first refusal or after 5000 writes.
    while (i < 5000) {
      try {
        await spool.write({ reports: [report(ORG_A, i++, 1000)], rejected: [] });
        stored++;
      } catch (err) {
        full = err;
        break;
      }
    }
    expect(full).toBeInstanceOf(SpoolFullError);
    expect(spool.counts().pending).toBe(stored);

    // Deliver half: as many new rows as were delivered fit again, because delivered rows are pruned to make room.
    const delivered = Math.floor(stored / 2);
    const batch = spool.lease(LANE_A, delivered, 100_000_000)!;
    spool.complete(batch.rows.map((r) => ({ id: r.id, state: 'accepted' as const, reportId: 'r', message: null })));
    const pendingBefore = spool.counts().pending;
    for (let n = 0; n < delivered - 5; n++) {
      expect(await spool.write({ reports: [report(ORG_A, i++, 1000)], rejected: [] })).toEqual(['stored']);
    }
    const after = spool.counts();
    expect(after.pending).toBe(pendingBefore + delivered - 5);
    expect(after.accepted).toBeLessThan(delivered);
    await spool.close();
  });
});

describe('spool: review fixes', () => {
  it('keeps room under maxBytes for the sender: at the ingest limit, results can still be recorded', async () => {
    const { SpoolFullError } = await import('../../src/errors.js');
    const spool = new Spool({ path: join(await tempDir('spool'), 'reserve.db'), sync: 'normal', maxBytes: 1024 * 1024 });
    let i = 0;
    for (; i < 20_000; i++) {
      try {
        await spool.write({ reports: [report(ORG_A, i, 800)], rejected: [] });
      } catch (err) {
        expect(err).toBeInstanceOf(SpoolFullError);
        break;
      }
    }
    expect(i).toBeLessThan(20_000);
    // The PCM answered: recording its answer must not fail, or the batch would be sent again and again.
    const batch = spool.lease(LANE_A, 5000, 100_000_000)!;
    spool.complete(batch.rows.map((r, n) => ({ id: r.id, state: 'accepted' as const, reportId: `9a97c2df-b261-4fc2-aa66-${String(n).padStart(12, '0')}`, message: 'x'.repeat(40) })));
    expect(spool.counts()).toMatchObject({ pending: i - batch.rows.length, inflight: 0, accepted: batch.rows.length });
    await spool.close();
  });

  it('opened as a guest (a command next to a running sidecar), leaves rows in flight alone', async () => {
    const path = join(await tempDir('spool'), 'live.db');
    const live = new Spool({ path, sync: 'normal' });
    await live.write({ reports: Array.from({ length: 4 }, (_, i) => report(ORG_A, i)), rejected: [] });
    const batch = live.lease(LANE_A, 3, 1_000_000)!;
    const command = new Spool({ path, sync: 'normal', guest: true });
    expect(command.recoveredInflight).toBe(0);
    expect(command.counts()).toMatchObject({ pending: 1, inflight: 3 });
    await command.close();
    // Only the lease holder's answer lands, once.
    live.complete(batch.rows.map((r) => ({ id: r.id, state: 'accepted' as const, reportId: 'r', message: null })));
    live.complete(batch.rows.map((r) => ({ id: r.id, state: 'discarded' as const, reportId: 'late', message: 'late' })));
    expect(live.counts()).toMatchObject({ accepted: 3, discarded: 0 });
    await live.close();
  });

  it('a corrected report sent again after DISCARDED is stored and sent again; an identical one stays a duplicate', async () => {
    const spool = await freshSpool();
    const original = report(ORG_A, 1);
    await spool.write({ reports: [original], rejected: [] });
    const batch = spool.lease(LANE_A, 1, 1_000_000)!;
    spool.complete([{ id: batch.rows[0]!.id, state: 'discarded', reportId: 'r', message: 'Unlisted endpoint: /x' }]);
    expect(await spool.write({ reports: [original], rejected: [] })).toEqual(['duplicate']);
    const corrected = { ...original, json: '{"fixed":true}' };
    expect(await spool.write({ reports: [corrected], rejected: [] })).toEqual(['stored']);
    const again = spool.lease(LANE_A, 1, 1_000_000)!;
    expect(again.rows[0]!.body).toBe('{"fixed":true}');
    // Accepted reports are never replaced, whatever comes in.
    spool.complete([{ id: again.rows[0]!.id, state: 'accepted', reportId: 'r2', message: null }]);
    expect(await spool.write({ reports: [{ ...original, json: '{"other":1}' }], rejected: [] })).toEqual(['duplicate']);
    await spool.close();
  });
});

describe('quarantine retention', () => {
  it('deletes quarantined items received before the cut-off, oldest first, in bounded chunks', async () => {
    const spool = await freshSpool();
    await spool.write({ reports: [], rejected: Array.from({ length: 5 }, (_, i) => ({ source: 's', route: '/v1/reports', item: `{"i":${i}}`, problems: '[]' })) });
    expect(spool.pruneQuarantine(Date.now() + 1000, 2)).toBe(2);
    expect(spool.quarantined(0, 10).map((q) => q.item)).toEqual(['{"i":2}', '{"i":3}', '{"i":4}']);
    expect(spool.pruneQuarantine(0, 100)).toBe(0);
    expect(spool.pruneQuarantine(Date.now() + 1000, 100)).toBe(3);
    expect(spool.backlog().quarantined).toBe(0);
    await spool.close();
  });
});

describe('spool durability settings', () => {
  it('opens in WAL mode with synchronous=FULL for sync "full" and NORMAL for "normal"', async () => {
    const dir = await tempDir('spool');
    for (const [sync, level] of [['full', 2], ['normal', 1]] as const) {
      const path = join(dir, `${sync}.db`);
      const spool = new Spool({ path, sync });
      // The pragmas are per connection: read them through the spool's own.
      const db = (spool as unknown as { db: { pragma: (p: string, o: { simple: true }) => unknown } }).db;
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(level);
      await spool.close();
    }
  });
});

describe('schema migration 1 → 2 (findings, folded quarantine)', () => {
  /** A spool file as version 1 wrote it: its DDL as it shipped, one pending row, one quarantined item. */
  async function versionOneFile(): Promise<string> {
    const path = join(await tempDir('spool-v1'), 'spool.db');
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path);
    db.exec(`
      CREATE TABLE reports (id INTEGER PRIMARY KEY, stream TEXT NOT NULL DEFAULT 'private', org_id TEXT NOT NULL, lane TEXT NOT NULL,
        dedup_key BLOB NOT NULL UNIQUE, fapi_interaction_id TEXT, body TEXT NOT NULL, repairs TEXT, bytes INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, report_id TEXT, pcm_message TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE INDEX reports_pending ON reports (lane, id) WHERE state = 'pending';
      CREATE INDEX reports_inflight ON reports (id) WHERE state = 'inflight';
      CREATE INDEX reports_fapi ON reports (fapi_interaction_id);
      CREATE TABLE quarantine (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, source TEXT NOT NULL, route TEXT NOT NULL,
        item TEXT NOT NULL, problems TEXT NOT NULL);
    `);
    db.prepare(`INSERT INTO reports (org_id, lane, dedup_key, fapi_interaction_id, body, bytes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, 1)`).run(
      ORG_A,
      LANE_A,
      Buffer.alloc(16, 1),
      'old-1',
      '{"old":1}',
      9,
    );
    db.prepare('INSERT INTO quarantine (received_at, source, route, item, problems) VALUES (1, ?, ?, ?, ?)').run('x', '/v1/reports', '{"a":1}', '[]');
    db.pragma('user_version = 1');
    db.close();
    return path;
  }

  it('keeps the pending row and the quarantined item, then stores findings and folds repeats', async () => {
    const spool = new Spool({ path: await versionOneFile(), sync: 'full' });
    try {
      const batch = spool.lease(LANE_A, 10, 1_000_000);
      expect(batch?.rows.map((r) => r.body)).toEqual(['{"old":1}']);
      expect(spool.quarantined(0, 10).map((q) => [q.item, q.count, q.lastSeenAt])).toEqual([['{"a":1}', 1, 1]]);

      const findings = JSON.stringify([{ field: 'additionalInfo.tokenId', rule: 'additionalInfo.tokenId.missing', message: 'm' }]);
      await spool.write({ reports: [{ ...report(ORG_A, 1), findings }], rejected: [] });
      const { default: Db } = await import('better-sqlite3');
      const reader = new Db(spool.path, { readonly: true });
      expect((reader.prepare("SELECT findings FROM reports WHERE body = ?").get(report(ORG_A, 1).json) as { findings: string }).findings).toBe(findings);
      reader.close();
      const item = { source: 's', route: '/v1/interactions', item: '{"b":2}', problems: '[{"rule":"x"}]' };
      for (let i = 0; i < 3; i++) await spool.write({ reports: [], rejected: [item] });
      await spool.write({ reports: [], rejected: [{ ...item, problems: '[{"rule":"y"}]' }] });
      const rows = spool.quarantined(0, 10);
      expect(rows.map((q) => [q.item, q.count])).toEqual([
        ['{"a":1}', 1],
        ['{"b":2}', 3],
        ['{"b":2}', 1],
      ]);
    } finally {
      await spool.close();
    }
  });
});

describe('quarantine caps', () => {
  it('deletes the oldest items past the row cap, down to 90 %, and says how many', async () => {
    const evictions: number[] = [];
    const path = join(await tempDir('spool-cap'), 'spool.db');
    const spool = new Spool({ path, sync: 'normal', quarantineMaxRows: 100, onQuarantineEvicted: (n) => evictions.push(n) });
    try {
      for (let i = 0; i < 250; i++) {
        await spool.write({ reports: [], rejected: [{ source: 's', route: '/v1/reports', item: `{"i":${i}}`, problems: '[]' }] });
      }
      const kept = spool.quarantined(0, 1000).map((q) => JSON.parse(q.item) as { i: number });
      expect(kept.length).toBeLessThanOrEqual(100);
      expect(kept.length).toBeGreaterThanOrEqual(90);
      // The newest are kept, oldest first.
      expect(kept.at(-1)?.i).toBe(249);
      expect(kept.map((k) => k.i)).toEqual([...kept.map((k) => k.i)].sort((a, b) => a - b));
      expect(evictions.reduce((a, b) => a + b, 0)).toBe(250 - kept.length);
      // Folding: the same item again adds nothing, so it never evicts.
      const before = evictions.length;
      for (let i = 0; i < 50; i++) await spool.write({ reports: [], rejected: [{ source: 's', route: '/v1/reports', item: '{"i":249}', problems: '[]' }] });
      expect(evictions.length).toBe(before);
    } finally {
      await spool.close();
    }
  });

  it('deletes past the bytes cap, counting what another process already removed', async () => {
    const path = join(await tempDir('spool-cap'), 'spool.db');
    const big = 'x'.repeat(10_000);
    const spool = new Spool({ path, sync: 'normal', quarantineMaxBytes: 200_000 });
    const other = new Spool({ path, sync: 'normal', guest: true });
    try {
      for (let i = 0; i < 15; i++) await spool.write({ reports: [], rejected: [{ source: 's', route: '/v1/reports', item: `${big}${i}`, problems: '[]' }] });
      expect(spool.quarantined(0, 100)).toHaveLength(15);
      // Another process (quarantine replay) deletes 10 of them; the running spool's own count is now stale.
      other.promote([], [], spool.quarantined(0, 10).map((q) => q.id));
      for (let i = 15; i < 25; i++) await spool.write({ reports: [], rejected: [{ source: 's', route: '/v1/reports', item: `${big}${i}`, problems: '[]' }] });
      // 5 + 10 = 15 items, 150 kB: under the cap on a fresh count, so nothing more was deleted.
      expect(spool.quarantined(0, 100)).toHaveLength(15);
      for (let i = 25; i < 40; i++) await spool.write({ reports: [], rejected: [{ source: 's', route: '/v1/reports', item: `${big}${i}`, problems: '[]' }] });
      const left = spool.quarantined(0, 100);
      expect(left.length * 10_002).toBeLessThanOrEqual(200_000);
      expect(left.at(-1)?.item).toBe(`${big}39`);
    } finally {
      await other.close();
      await spool.close();
    }
  });
});

describe('quarantine folding across a replay', () => {
  it('an item replayed with the same problems still folds its next repeat', async () => {
    const spool = new Spool({ path: join(await tempDir('spool-fold'), 'spool.db'), sync: 'normal' });
    try {
      const item = { source: '127.0.0.1 POST /v1/interactions?orgId=a', route: '/v1/interactions', item: '{"x":1}', problems: '[{"rule":"listed_endpoint"}]' };
      await spool.write({ reports: [], rejected: [item] });
      const [row] = spool.quarantined(0, 10);
      spool.promote([], [{ quarantineId: row!.id, problems: item.problems }]);
      await spool.write({ reports: [], rejected: [item] });
      expect(spool.quarantined(0, 10).map((q) => q.count)).toEqual([2]);
      // New problems make it another item; the repeat of the old one is a row of its own again.
      spool.promote([], [{ quarantineId: row!.id, problems: '[{"rule":"other"}]' }]);
      await spool.write({ reports: [], rejected: [item] });
      expect(spool.quarantined(0, 10).map((q) => [q.problems, q.count])).toEqual([
        ['[{"rule":"other"}]', 2],
        [item.problems, 1],
      ]);
    } finally {
      await spool.close();
    }
  });
});

describe('spool ledger under a failing write', () => {
  it('a lease whose transaction fails leaves nothing leased: the same rows are leased next time', async () => {
    const path = join(await tempDir('spool'), 'busy.db');
    const spool = new Spool({ path, sync: 'full' });
    await spool.write({ reports: Array.from({ length: 5 }, (_, i) => report(ORG_A, i)), rejected: [] });
    (spool as unknown as { db: { pragma(p: string): unknown } }).db.pragma('busy_timeout = 50');
    const { default: Database } = await import('better-sqlite3');
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    expect(() => spool.lease(LANE_A, 10, 1_000_000)).toThrow(/locked|busy/i);
    other.exec('COMMIT');
    other.close();
    expect(spool.counts()).toMatchObject({ pending: 5, inflight: 0 });
    const batch = spool.lease(LANE_A, 10, 1_000_000)!;
    expect(batch.rows.map((r) => Number(JSON.parse(r.body).i))).toEqual([0, 1, 2, 3, 4]);
    await spool.close();
  });

  it('a lease failing half-way (after the ledger moved in memory) is undone in memory too', async () => {
    const path = join(await tempDir('spool'), 'half.db');
    const spool = new Spool({ path, sync: 'full' });
    await spool.write({ reports: Array.from({ length: 5 }, (_, i) => report(ORG_A, i)), rejected: [] });
    const first = spool.lease(LANE_A, 10, 1_000_000)!;
    spool.release(first.rows.map((r) => r.id));
    // Leasing them again records them as resent: make that statement fail, after the gaps were taken in memory.
    const { default: Database } = await import('better-sqlite3');
    const other = new Database(path);
    other.exec('DROP TABLE resends');
    expect(() => spool.lease(LANE_A, 10, 1_000_000)).toThrow(/resends/);
    other.exec('CREATE TABLE resends (first INTEGER PRIMARY KEY, last INTEGER NOT NULL)');
    other.close();
    expect(spool.counts()).toMatchObject({ pending: 5, inflight: 0 });
    expect(spool.lease(LANE_A, 10, 1_000_000)!.rows.map((r) => Number(JSON.parse(r.body).i))).toEqual([0, 1, 2, 3, 4]);
    await spool.close();
  });
});
