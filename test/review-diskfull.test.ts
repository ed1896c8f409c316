import Database from 'better-sqlite3';
import { openSync, writeSync, closeSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { laneOf, Spool, type NewReport } from '../src/spool/spool.js';

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const LANE = laneOf('private', ORG);
const DIR = '/tmp/tiny/r1';
function report(n: number): NewReport {
  return { stream: 'private', orgId: ORG, dedupKey: `k${n}`, fapiInteractionId: null, json: JSON.stringify({ n, pad: 'x'.repeat(300) }), repairs: [] };
}
function fill(): string {
  const f = join(DIR, 'filler');
  const fd = openSync(f, 'w');
  const buf = Buffer.alloc(4096);
  try { for (;;) writeSync(fd, buf); } catch { /* ENOSPC */ }
  closeSync(fd);
  return f;
}
const seqs = (ids: number[]) => ids.map((id) => id % 2 ** 40);

describe('review: disk full during ledger writes', () => {
  it('lease that fails at commit', async () => {
    rmSync(DIR, { recursive: true, force: true }); mkdirSync(DIR, { recursive: true });
    const path = join(DIR, 'spool.db');
    const spool = new Spool({ path, sync: 'full' });
    await spool.write({ reports: Array.from({ length: 30 }, (_, i) => report(i)), rejected: [] });
    const filler = fill();
    let err: unknown = null;
    try { spool.lease(LANE, 10, 1e9); } catch (e) { err = e; }
    console.log('lease on full disk threw:', (err as { code?: string })?.code, (err as Error)?.message);
    rmSync(filler);
    console.log('backlog after failed lease:', spool.backlog());
    const b = spool.lease(LANE, 10, 1e9);
    console.log('next lease got seqs:', seqs(b!.rows.map((r) => r.id)));
    spool.complete(b!.rows.map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null })));
    let more; const all: number[] = [];
    while ((more = spool.lease(LANE, 10, 1e9))) { all.push(...seqs(more.rows.map((r) => r.id))); spool.complete(more.rows.map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null }))); }
    console.log('remaining leases got seqs:', all, 'backlog now:', spool.backlog());
    await spool.close();
    const db = new Database(path, { readonly: true });
    console.log('DB view states:', db.prepare("SELECT state, count(*) n FROM reports GROUP BY state").all());
    db.close();
    const again = new Spool({ path, sync: 'full' });
    console.log('after restart backlog:', again.backlog(), 'recoveredInflight', again.recoveredInflight);
    await again.close();
    expect(err).not.toBeNull();
  });

  it('complete that fails at commit, retried as lane.record does', async () => {
    rmSync(DIR, { recursive: true, force: true }); mkdirSync(DIR, { recursive: true });
    const path = join(DIR, 'spool.db');
    const spool = new Spool({ path, sync: 'full' });
    await spool.write({ reports: Array.from({ length: 30 }, (_, i) => report(i)), rejected: [] });
    const b = spool.lease(LANE, 10, 1e9)!;
    const results = b.rows.map((r) => ({ id: r.id, state: 'accepted' as const, reportId: `rid-${r.id}`, message: null }));
    const filler = fill();
    let err: unknown = null;
    try { spool.complete(results); } catch (e) { err = e; }
    console.log('complete on full disk threw:', (err as { code?: string })?.code);
    rmSync(filler);
    spool.complete(results); // lane.record retries
    const db = new Database(path, { readonly: true });
    console.log('after retried complete: deliveries', db.prepare('SELECT count(*) n FROM deliveries').get(), 'leases', db.prepare('SELECT first % 1099511627776 AS a, last % 1099511627776 AS b FROM leases').all());
    db.close();
    console.log('in-memory backlog', spool.backlog());
    await spool.close();
    const again = new Spool({ path, sync: 'full' });
    console.log('after restart recoveredInflight', again.recoveredInflight, 'lease gets', seqs(again.lease(LANE, 10, 1e9)!.rows.map((r) => r.id)));
    await again.close();
  });
});
