import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpoolWriterError } from '../../src/errors.js';
import { laneOf, Spool, type NewReport } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';

const ORG_A = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const ORG_B = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';

function report(n: number): NewReport {
  const orgId = n % 2 === 0 ? ORG_A : ORG_B;
  return { stream: 'private', orgId, dedupKey: `k${n}`, fapiInteractionId: `id-${n}`, json: JSON.stringify({ n, pad: 'x'.repeat(200) }), repairs: [] };
}

describe('spool with a writer thread', () => {
  it('commits on its own connection while the ledger writes on the main one: every report leased once, none lost', async () => {
    const spool = await Spool.open({ path: join(await tempDir('writer'), 'spool.db'), sync: 'full', writerThread: true });
    const added: number[] = [];
    spool.onCommitted((lanes) => added.push([...lanes.values()].reduce((n, a) => n + a.rows, 0)));
    const WRITES = 200;
    const PER = 50;
    const seen = new Map<number, number>();
    let batches = 0;
    const lease = (): void => {
      for (const lane of [laneOf('private', ORG_A), laneOf('private', ORG_B)]) {
        const batch = spool.lease(lane, 20, 10_000_000);
        if (!batch) continue;
        for (const row of batch.rows) {
          const n = (JSON.parse(row.body) as { n: number }).n;
          seen.set(n, (seen.get(n) ?? 0) + 1);
        }
        // Some batches fail and come back, the rest are answered: both are ledger writes racing the appends.
        if (++batches % 5 === 0) spool.release(batch.rows.map((r) => r.id));
        else spool.complete(batch.rows.map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null })));
      }
    };
    const writes: Promise<unknown>[] = [];
    for (let w = 0; w < WRITES; w++) {
      writes.push(spool.write({ reports: Array.from({ length: PER }, (_, i) => report(w * PER + i)), rejected: [] }));
      if (w % 1 === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        lease();
      }
    }
    expect((await Promise.allSettled(writes)).filter((r) => r.status === 'rejected')).toEqual([]);
    for (let round = 0; round < 2000 && spool.counts().pending > 0; round++) lease();
    expect(added.reduce((a, b) => a + b, 0)).toBe(WRITES * PER);
    // Ledger changes reach the file through the thread, after the calls return.
    await spool.flush();
    expect(spool.counts()).toMatchObject({ pending: 0, inflight: 0, accepted: WRITES * PER });
    expect([...Array(WRITES * PER).keys()].filter((n) => !seen.has(n))).toEqual([]);
    // The same keys again are duplicates, told by the thread's window.
    expect(await spool.write({ reports: [report(7), report(WRITES * PER + 1)], rejected: [] })).toEqual(['duplicate', 'stored']);
    await spool.close();
  });

  it('stores what it is handed through the thread as text: the same body, byte count and key as an in-process write', async () => {
    const path = join(await tempDir('writer'), 'spool.db');
    const texts = ['ação', 'naïve 😀 \u0000', 'plain'];
    const wide = (n: number): NewReport => ({ ...report(n), dedupKey: `k${n}|${texts[n % 3]}`, json: JSON.stringify({ n, note: texts[n % 3] }) });
    const spool = await Spool.open({ path, sync: 'full', writerThread: true });
    expect(await spool.write({ reports: [0, 1, 2].map(wide), rejected: [] })).toEqual(['stored', 'stored', 'stored']);
    await spool.close();

    const db = new Database(path, { readonly: true });
    const rows = db.prepare('SELECT typeof(body) AS type, body, bytes FROM log ORDER BY created_at, id').all() as { type: string; body: string; bytes: number }[];
    db.close();
    expect(rows.map((r) => r.type)).toEqual(['text', 'text', 'text']);
    expect(rows.map((r) => r.body).sort()).toEqual([0, 1, 2].map((n) => wide(n).json).sort());
    for (const r of rows) expect(r.bytes).toBe(Buffer.byteLength(r.body));

    // The same keys written in-process (text, not bytes) are the same keys.
    const again = new Spool({ path, sync: 'full' });
    expect(await again.write({ reports: [0, 1, 2, 3].map(wide), rejected: [] })).toEqual(['duplicate', 'duplicate', 'duplicate', 'stored']);
    await again.close();
  });

  it('waits for a write lock another connection holds, and commits after it (no "database is locked" from a stale read)', async () => {
    const path = join(await tempDir('writer'), 'spool.db');
    const spool = await Spool.open({ path, sync: 'full', writerThread: true });
    await spool.write({ reports: [report(0)], rejected: [] });
    // Another writer (the sender's ledger, a quarantine replay) commits while this write's transaction waits.
    const other = new Database(path);
    other.pragma('busy_timeout = 5000');
    other.exec('BEGIN IMMEDIATE');
    other.prepare("INSERT INTO quarantine (received_at, source, route, item, problems) VALUES (1, 's', '/v1/reports', '{}', '[]')").run();
    const write = spool.write({ reports: [report(2), report(3)], rejected: [] });
    await new Promise((resolve) => setTimeout(resolve, 100));
    other.exec('COMMIT');
    other.close();
    expect(await write).toEqual(['stored', 'stored']);
    expect(spool.counts()).toMatchObject({ pending: 3, quarantined: 1 });
    await spool.close();
  });

  it('a report another process appended (a quarantine replay) is a duplicate for the running sidecar too', async () => {
    const path = join(await tempDir('writer'), 'spool.db');
    const sidecar = await Spool.open({ path, sync: 'full', writerThread: true });
    await sidecar.write({ reports: [report(1)], rejected: [] });
    const replay = new Spool({ path, sync: 'full', guest: true });
    expect(replay.promote([{ quarantineId: 999, report: report(2) }], [])).toEqual(['stored']);
    await replay.close();
    expect(await sidecar.write({ reports: [report(1), report(2), report(3)], rejected: [] })).toEqual(['duplicate', 'duplicate', 'stored']);
    await sidecar.close();
  });

  it('a ledger change the thread cannot record stops leasing: the batch is not sent, and the failure is told', async () => {
    const path = join(await tempDir('writer'), 'spool.db');
    const failures: Error[] = [];
    const ledgerErrors: Error[] = [];
    const spool = await Spool.open({ path, sync: 'full', writerThread: true, onWriterFailure: (e) => failures.push(e), onLedgerError: (e) => ledgerErrors.push(e) });
    await spool.write({ reports: [report(0), report(2)], rejected: [] });
    const other = new Database(path);
    other.exec('DROP TABLE leases');
    other.close();
    const batch = spool.lease(laneOf('private', ORG_A), 1, 1_000_000)!;
    await expect(batch.recorded).rejects.toThrow(/leases/);
    expect(ledgerErrors.map((e) => e.message).join()).toMatch(/leases/);
    expect(failures).toHaveLength(1);
    expect(spool.lease(laneOf('private', ORG_A), 10, 1_000_000)).toBeNull();
    await spool.close();
  });

  it('rebuilds the de-duplication window at start: a key stored before a restart is still a duplicate', async () => {
    const path = join(await tempDir('writer'), 'spool.db');
    const first = await Spool.open({ path, sync: 'full', writerThread: true, dedupWindow: 10 });
    for (let n = 0; n < 20; n++) await first.write({ reports: [report(n)], rejected: [] });
    await first.close();
    const again = await Spool.open({ path, sync: 'full', writerThread: true, dedupWindow: 10 });
    // The window holds at least the last 5 keys (capacity / 2); the first ones have left it and are stored again.
    expect(await again.write({ reports: [report(19), report(15)], rejected: [] })).toEqual(['duplicate', 'duplicate']);
    expect(await again.write({ reports: [report(0)], rejected: [] })).toEqual(['stored']);
    await again.close();
  });

  it('when the thread dies, says so once and refuses writes with a typed error instead of hanging', async () => {
    const failures: Error[] = [];
    const spool = await Spool.open({ path: join(await tempDir('writer'), 'spool.db'), sync: 'full', writerThread: true, onWriterFailure: (e) => failures.push(e) });
    await spool.write({ reports: [report(1)], rejected: [] });
    await (spool as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer.worker.terminate();
    await expect(spool.write({ reports: [report(2)], rejected: [] })).rejects.toBeInstanceOf(SpoolWriterError);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toMatch(/writer thread stopped/);
    await spool.close();
  });
});
