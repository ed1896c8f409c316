import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { laneOf, Spool, type NewReport } from '../src/spool/spool.js';
import { tempDir } from './helpers/pki.js';
import { V2_DDL } from './helpers/spool-v2.js';

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const LANE = laneOf('private', ORG);
function report(n: number): NewReport {
  return { stream: 'private', orgId: ORG, dedupKey: `k${n}`, fapiInteractionId: null, json: JSON.stringify({ n }), repairs: [] };
}

describe('review: de-duplication', () => {
  it('a report replayed by another process (quarantine replay) is not a duplicate for the running sidecar', async () => {
    const path = join(await tempDir('rev-dedup'), 'spool.db');
    const sidecar = await Spool.open({ path, sync: 'full', writerThread: true });
    console.log('sidecar writes k1:', await sidecar.write({ reports: [report(1)], rejected: [] }));
    const cmd = new Spool({ path, sync: 'full', recoverInflight: false });
    console.log('replay process promotes k2:', cmd.promote([{ quarantineId: 999, report: report(2) }], []));
    await cmd.close();
    console.log('gateway re-sends k2 to the sidecar:', await sidecar.write({ reports: [report(2)], rejected: [] }));
    console.log('gateway re-sends k1 to the sidecar:', await sidecar.write({ reports: [report(1)], rejected: [] }));
    const b = sidecar.lease(LANE, 100, 1e9)!;
    console.log('sidecar leases bodies:', b.rows.map((r) => r.body));
    await sidecar.close();
  });

  it('a v2 file: keys of accepted rows are dropped by the migration', async () => {
    const path = join(await tempDir('rev-v2'), 'spool.db');
    const db = new Database(path);
    db.exec(V2_DDL);
    const key = createHash('sha256').update('k7').digest().subarray(0, 16);
    db.prepare(`INSERT INTO reports (org_id, lane, dedup_key, body, bytes, state, created_at, updated_at, report_id) VALUES (?, ?, ?, ?, ?, 'accepted', 1, 1, 'r7')`).run(ORG, LANE, key, JSON.stringify({ n: 7 }), 8);
    db.pragma('user_version = 2');
    db.close();
    const spool = new Spool({ path, sync: 'full' });
    console.log('after migration, the gateway re-sends k7 (accepted in v2, within retention):', await spool.write({ reports: [report(7)], rejected: [] }));
    console.log('leased again:', spool.lease(LANE, 10, 1e9)?.rows.map((r) => r.body));
    await spool.close();
  });
});
