import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { laneOf, Spool } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';
import { V2_DDL } from '../helpers/spool-v2.js';

const ORG_A = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const ORG_B = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';
const LANE_A = laneOf('private', ORG_A);
const LANE_B = laneOf('private', ORG_B);


type V2Row = { lane: string; org: string; n: number; state: 'pending' | 'inflight' | 'accepted' | 'discarded'; message?: string; findings?: string };

/** Rows interleaved across two lanes and all four states, in the order a running sidecar would have written them. */
const ROWS: V2Row[] = Array.from({ length: 40 }, (_, n) => {
  const org = n % 3 === 0 ? ORG_B : ORG_A;
  const state = (['pending', 'inflight', 'accepted', 'discarded', 'pending'] as const)[n % 5]!;
  return {
    lane: laneOf('private', org),
    org,
    n,
    state,
    ...(state === 'discarded' ? { message: `Unlisted endpoint: /x/${n}` } : {}),
    ...(n === 4 ? { findings: '[{"field":"additionalInfo","rule":"r","message":"m"}]' } : {}),
  };
});

async function versionTwoFile(): Promise<string> {
  const path = join(await tempDir('spool-v2'), 'spool.db');
  const db = new Database(path);
  db.exec(V2_DDL);
  const insert = db.prepare(
    `INSERT INTO reports (org_id, lane, dedup_key, fapi_interaction_id, body, bytes, state, attempts, report_id, pcm_message, findings, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const r of ROWS) {
    const body = JSON.stringify({ fapiInteractionId: `id-${r.n}`, n: r.n });
    // Version 2 stored the first 16 bytes of the key's SHA-256, as the window does.
    const key = createHash('sha256').update(`key-${r.n}`).digest().subarray(0, 16);
    insert.run(r.org, r.lane, key, `id-${r.n}`, body, Buffer.byteLength(body), r.state, r.state === 'pending' ? 0 : 1, r.state === 'pending' ? null : `rep-${r.n}`, r.message ?? null, r.findings ?? null, 1000 + r.n, 2000 + r.n);
  }
  db.prepare('INSERT INTO quarantine (received_at, source, route, item, problems) VALUES (1, ?, ?, ?, ?)').run('x', '/v1/reports', '{"a":1}', '[]');
  db.pragma('user_version = 2');
  db.close();
  return path;
}

const undelivered = (lane: string): number[] => ROWS.filter((r) => r.lane === lane && (r.state === 'pending' || r.state === 'inflight')).map((r) => r.n);

describe('schema migration 2 → 3 (append-only log and ledger)', () => {
  it('moves undelivered rows in their order per lane, counts in-flight ones as recovered, keeps discarded messages and the quarantine', async () => {
    const path = await versionTwoFile();
    const spool = new Spool({ path, sync: 'full' });
    try {
      const inflight = ROWS.filter((r) => r.state === 'inflight').length;
      expect(spool.recoveredInflight).toBe(inflight);
      const discarded = ROWS.filter((r) => r.state === 'discarded').length;
      expect(spool.counts()).toEqual({ pending: undelivered(LANE_A).length + undelivered(LANE_B).length, inflight: 0, accepted: 0, discarded, quarantined: 1 });

      // Every undelivered report is leased once, oldest first per lane, and then nothing is left.
      for (const lane of [LANE_A, LANE_B]) {
        const batch = spool.lease(lane, 1000, 10_000_000)!;
        expect(batch.rows.map((r) => (JSON.parse(r.body) as { n: number }).n)).toEqual(undelivered(lane));
        expect(spool.lease(lane, 1000, 10_000_000)).toBeNull();
        spool.complete(batch.rows.map((r) => ({ id: r.id, state: 'accepted' as const, reportId: 'new', message: null })));
      }
      expect(spool.counts()).toMatchObject({ pending: 0, inflight: 0, discarded });

      const reader = new Database(path, { readonly: true });
      try {
        const tables = (reader.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
        expect(tables).not.toContain('reports');
        const view = reader.prepare('SELECT fapi_interaction_id AS f, state, pcm_message AS m, findings, resent FROM reports ORDER BY f').all() as {
          f: string;
          state: string;
          m: string | null;
          findings: string | null;
          resent: number;
        }[];
        const expected = ROWS.filter((r) => r.state !== 'accepted')
          .map((r) => ({
            f: `id-${r.n}`,
            state: r.state === 'discarded' ? 'discarded' : 'accepted',
            m: r.message ?? null,
            findings: r.findings ?? null,
            resent: r.state === 'inflight' ? 1 : 0,
          }))
          .sort((x, y) => (x.f < y.f ? -1 : 1));
        expect(view).toEqual(expected);
      } finally {
        reader.close();
      }
    } finally {
      await spool.close();
    }
  });

  it('keeps de-duplicating the migrated undelivered reports, and a second open does not migrate again', async () => {
    const path = await versionTwoFile();
    const first = new Spool({ path, sync: 'full' });
    await first.close();
    const spool = new Spool({ path, sync: 'full' });
    try {
      expect(spool.recoveredInflight).toBe(0);
      expect(spool.counts().pending).toBe(undelivered(LANE_A).length + undelivered(LANE_B).length);
      const again = (n: number) => ({ stream: 'private' as const, orgId: ORG_A, dedupKey: `key-${n}`, fapiInteractionId: `id-${n}`, json: JSON.stringify({ fapiInteractionId: `id-${n}`, n }), repairs: [] });
      // A migrated undelivered report posted again is a duplicate; an accepted one (not carried over) is stored.
      const pendingOne = undelivered(LANE_A)[0]!;
      const acceptedOne = ROWS.find((r) => r.lane === LANE_A && r.state === 'accepted')!.n;
      expect(await spool.write({ reports: [again(pendingOne)], rejected: [] })).toEqual(['duplicate']);
      expect(await spool.write({ reports: [again(acceptedOne)], rejected: [] })).toEqual(['stored']);
      // Same lane, a new report: its id follows the migrated ones, so it is leased after them.
      expect(await spool.write({ reports: [{ stream: 'private', orgId: ORG_A, dedupKey: 'new', fapiInteractionId: 'id-new', json: '{"n":99}', repairs: [] }], rejected: [] })).toEqual([
        'stored',
      ]);
      const batch = spool.lease(LANE_A, 1000, 10_000_000)!;
      expect(batch.rows.map((r) => (JSON.parse(r.body) as { n: number }).n)).toEqual([...undelivered(LANE_A), acceptedOne, 99]);
    } finally {
      await spool.close();
    }
  });
});
