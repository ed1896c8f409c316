import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { pruneInChunks, startSidecar } from '../../src/sidecar.js';
import { laneOf, Spool, type NewReport } from '../../src/spool/spool.js';
import { postJson } from '../helpers/http.js';
import { CLIENT_ORG, tempDir } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { adminSection } from '../helpers/admin.js';

/** Issue #10 part 7: a bounded backlog (503 and recovery), pruning in small steps, a bounded WAL. */

describe('PCM_SPOOL_MAX_PENDING_REPORTS', () => {
  it('answers 503 with Retry-After once the backlog reaches it, stores nothing of that request, and takes reports again as it drains', async () => {
    const dir = await tempDir('limits');
    const spoolPath = join(dir, 'spool.db');
    // Certificates that do not exist: nothing is sent, the backlog only moves when the test answers for the PCM.
    const config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: spoolPath, maxPendingReports: 3 },
      pcm: { apiUrl: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' },
      organisations: [{ orgId: CLIENT_ORG, clientId: 'c', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none-key.pem') }],
    });
    const sidecar = await startSidecar(config, createLogger('silent'));
    const url = `${sidecar.ingestUrl}/v1/reports`;
    try {
      expect((await postJson(url, [validReport(0), validReport(2)])).status).toBe(202);
      expect((await postJson(url, validReport(4))).status).toBe(202);
      const refused = await postJson<{ code: string; error: string }>(url, validReport(6));
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(refused.body.code).toBe('PCM_SPOOL_BACKLOG_FULL');
      expect(refused.body.error).toMatch(/PCM_SPOOL_MAX_PENDING_REPORTS/);
      expect(sidecar.spool.counts()).toMatchObject({ pending: 3 });

      // One delivered: room for one more.
      const batch = sidecar.spool.lease(laneOf('private', CLIENT_ORG), 1, 1 << 20);
      sidecar.spool.complete((batch?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: 'r', message: null, at: r.at })));
      await sidecar.spool.flush();
      expect((await postJson(url, validReport(6))).status).toBe(202);
      expect((await postJson(url, validReport(8))).status).toBe(503);
    } finally {
      await sidecar.stop();
    }
  });
});

describe('pruning in chunks', () => {
  it('lets the event loop run between chunks, stops when told, and stops at a short chunk', async () => {
    const calls: number[] = [];
    let turns = 0;
    let done = false;
    // Another task of the event loop, one step per turn.
    const tick = (): void => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    let left = 3500;
    const total = await pruneInChunks((limit) => {
      calls.push(turns);
      const n = Math.min(limit, left);
      left -= n;
      return n;
    });
    done = true;
    expect(total).toBe(3500);
    expect(calls).toHaveLength(4); // 1000, 1000, 1000, 500
    // Something else ran between two chunks.
    expect(new Set(calls).size).toBeGreaterThan(1);
    let stop = false;
    const stopped = await pruneInChunks(() => {
      stop = true;
      return 1000;
    }, () => stop);
    expect(stopped).toBe(1000);
  });
});

describe('WAL size', () => {
  const batch = (round: number): NewReport[] =>
    Array.from({ length: 100 }, (_, i) => ({
      stream: 'private',
      orgId: CLIENT_ORG,
      repairs: [],
      dedupKey: `k${round}-${i}`,
      fapiInteractionId: null,
      json: JSON.stringify({ round, i, pad: 'x'.repeat(2000) }),
    }));

  /**
   * The WAL's size after a reader held one snapshot through 8 MB of commits (so no checkpoint could empty the WAL)
   * and then let go, followed by a few more commits; with this journal_size_limit (-1: none).
   */
  async function walAfterLongReader(walLimitBytes: number): Promise<{ during: number; after: number }> {
    const path = join(await tempDir('wal'), 'spool.db');
    const spool = new Spool({ path, sync: 'normal', walLimitBytes });
    const Database = (await import('better-sqlite3')).default;
    const reader = new Database(path, { readonly: true });
    try {
      await spool.write({ reports: batch(0), rejected: [] });
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM log').get();
      for (let round = 1; round <= 40; round++) await spool.write({ reports: batch(round), rejected: [] });
      const during = statSync(`${path}-wal`).size;
      reader.exec('COMMIT');
      for (let round = 41; round <= 60; round++) await spool.write({ reports: batch(round), rejected: [] });
      return { during, after: statSync(`${path}-wal`).size };
    } finally {
      reader.close();
      await spool.close();
    }
  }

  it('is truncated back to its limit once a checkpoint empties it (SQLite alone keeps its largest size)', async () => {
    const unlimited = await walAfterLongReader(-1);
    expect(unlimited.during).toBeGreaterThan(8 * 1024 * 1024);
    expect(unlimited.after).toBeGreaterThanOrEqual(unlimited.during);
    const limited = await walAfterLongReader(256 * 1024);
    expect(limited.during).toBeGreaterThan(8 * 1024 * 1024);
    // What was written since the WAL restarted (20 commits of ~200 KB at most), not its high-water mark.
    expect(limited.after).toBeLessThan(limited.during / 2);
  });
});
