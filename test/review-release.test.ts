import Database from 'better-sqlite3';
import { openSync, writeSync, closeSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { laneOf, Spool, type NewReport } from '../src/spool/spool.js';

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const LANE = laneOf('private', ORG);
const DIR = '/tmp/tiny/r2';
function report(n: number): NewReport {
  return { stream: 'private', orgId: ORG, dedupKey: `k${n}`, fapiInteractionId: null, json: JSON.stringify({ n, pad: 'x'.repeat(300) }), repairs: [] };
}
function fill(): string {
  const f = join(DIR, 'filler'); const fd = openSync(f, 'w'); const buf = Buffer.alloc(4096);
  try { for (;;) writeSync(fd, buf); } catch { /* ENOSPC */ }
  closeSync(fd); return f;
}
const seqs = (ids: number[]) => ids.map((id) => id % 2 ** 40);

describe('review: release on a full disk', () => {
  it('release fails at commit; the rows come back in memory but the lease row stays', async () => {
    rmSync(DIR, { recursive: true, force: true }); mkdirSync(DIR, { recursive: true });
    const path = join(DIR, 'spool.db');
    const spool = new Spool({ path, sync: 'full' });
    await spool.write({ reports: Array.from({ length: 30 }, (_, i) => report(i)), rejected: [] });
    const b = spool.lease(LANE, 10, 1e9)!;
    const filler = fill();
    try { spool.release(b.rows.map((r) => r.id)); } catch (e) { console.log('release threw', (e as { code?: string }).code, (e as Error).stack?.split('\n').slice(0,6).join(' | ')); } console.log('after failed release', spool.backlog());
    rmSync(filler);
    for (let i = 0; i < 3; i++) {
      try {
        const again = spool.lease(LANE, 10, 1e9);
        console.log(`lease #${i}:`, again && seqs(again.rows.map((r) => r.id)));
      } catch (e) { console.log(`lease #${i} threw`, (e as { code?: string }).code, (e as Error).message); }
      console.log('  backlog', spool.backlog());
    }
    await spool.close();
  });
});
