import Database from 'better-sqlite3';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminAuth } from '../../src/admin/auth.js';
import { AdminQueryThread } from '../../src/admin/query-thread.js';
import { adminRoutes } from '../../src/admin/routes.js';
import { createAdminServer, type AdminServer } from '../../src/admin/server.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { createLogger } from '../../src/log.js';
import { loadCatalog } from '../../src/report/catalog.js';
import type { NewReport } from '../../src/spool/spool.js';
import { adminJson, adminTokenFile } from '../helpers/admin.js';
import { eventually, postJson } from '../helpers/http.js';
import { tempDir } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { reportsFixture, type Fixture } from './fixture.js';

/** Reports of an organisation the sidecar does not report for: they stay pending, nothing sends them. */
const BULK_ORG = 'bulk-org';
const BULK_ENDPOINT = '/open-banking/bulk/v1/items';
const BULK_ROWS = 200_000;
const CHUNK = 10_000;

/** A spool with enough reports that a scan of them takes the admin thread a good while. */
async function fillSpool(f: Fixture): Promise<void> {
  const template = JSON.stringify({ ...validReport(0), endpoint: BULK_ENDPOINT, fapiInteractionId: 'FAPI' });
  for (let from = 0; from < BULK_ROWS; from += CHUNK) {
    const reports: NewReport[] = [];
    for (let i = from; i < from + CHUNK; i++) {
      const id = `bulk-${i}`;
      reports.push({ stream: 'private', orgId: BULK_ORG, dedupKey: id, fapiInteractionId: id, at: f.now - i, json: template.replace('FAPI', id), repairs: [] });
    }
    const outcome = await f.sidecar.spool.write({ reports, rejected: [] });
    if (outcome.some((o) => o !== 'stored')) throw new Error('bulk reports were not all stored');
  }
}

/**
 * The admin API's questions run on their own thread, one at a time: ingest answers while a scan of the whole spool
 * runs, a full queue answers 503, and a request past its time limit answers 503 and leaves the next one a thread.
 */
describe('admin API: the query thread', () => {
  let f: Fixture;
  const heavy = (base = f.sidecar.adminUrl): string => `${base}/v1/reports?endpoint=${encodeURIComponent(BULK_ENDPOINT)}&status=pending&_limit=1`;

  beforeAll(async () => {
    f = await reportsFixture('admin-thread');
    await fillSpool(f);
    await f.sidecar.spool.flush();
  }, 120_000);
  afterAll(async () => f?.stop());

  it('answers ingest while a scan of the spool runs on the admin thread', async () => {
    const done: string[] = [];
    const admin = adminJson(heavy()).then((answer) => {
      done.push('admin');
      return answer;
    });
    // The scan is under way on the thread (its start included)…
    await eventually(async () => (f.sidecar.adminQueries.status().running === 'reports' ? true : undefined), 30_000, 2);
    // … and the gateway's report is answered before it ends.
    const ingest = await postJson<{ accepted: number }>(`${f.sidecar.ingestUrl}/v1/reports`, [validReport(0)]);
    done.push('ingest');
    expect([ingest.status, ingest.body.accepted]).toEqual([202, 1]);
    const answer = await admin;
    expect(done).toEqual(['ingest', 'admin']);
    expect([answer.status, answer.headers.contentrange]).toEqual([200, String(BULK_ROWS)]);
  });

  it('queues requests behind the one running, and answers 503 with Retry-After past the queue', async () => {
    // A listing by endpoint reads every report (200,000 here): the longest question here.
    const running = adminJson(heavy());
    await eventually(async () => (f.sidecar.adminQueries.status().running === 'reports' ? true : undefined), 30_000, 2);
    const queued = Array.from({ length: 8 }, () => adminJson<{ quarantine: unknown[] }>(`${f.sidecar.adminUrl}/v1/quarantine`));
    await eventually(async () => (f.sidecar.adminQueries.status().waiting === 8 ? true : undefined), 30_000, 2);
    const refused = await adminJson<{ message: string }>(heavy());
    expect([refused.status, refused.headers['retry-after']]).toEqual([503, '5']);
    expect(refused.body.message).toMatch(/^the admin API is busy: one request runs and 8 wait/);
    expect((await Promise.all(queued)).map((a) => a.status)).toEqual(Array(8).fill(200));
    expect((await running).status).toBe(200);
  });

  describe('with a short time limit', () => {
    let thread: AdminQueryThread;
    let admin: AdminServer;
    let url: string;
    const LIMIT_MS = 100;
    const rules = { rulesInput: { organisations: null, opendataOrgId: null, rules: { ...DEFAULTS.rules } }, catalog: loadCatalog(), skipPaths: '' };

    beforeAll(async () => {
      const dir = await tempDir('admin-thread-limit');
      const log = createLogger('silent');
      thread = new AdminQueryThread({ path: f.sidecar.spool.path, sync: 'normal' }, rules, { timeLimitMs: LIMIT_MS }, log);
      const unused = () => ({ status: 404, body: { message: 'not here' } });
      admin = createAdminServer({
        auth: new AdminAuth(adminTokenFile(dir), log),
        log,
        routes: adminRoutes({
          spool: f.sidecar.spool,
          queries: thread,
          slaDays: () => [],
          health: unused,
          readiness: unused,
          metrics: unused,
          status: unused,
          reconciliation: unused,
          notifications: unused,
        }),
      });
      await new Promise<void>((resolve) => admin.server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(admin.server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await admin?.close(0);
      await thread?.close();
    });

    it('stops a scan past the limit with 503; the thread takes the next request', async () => {
      const stopped = await adminJson<{ message: string }>(heavy(url));
      expect([stopped.status, stopped.headers['retry-after']]).toEqual([503, undefined]);
      expect(stopped.body.message).toMatch(/took longer than 0.1 s/);
      // It stopped itself (SpoolQueries.within): the same thread answers next.
      expect(thread.status()).toMatchObject({ alive: true, starts: 1 });
      const next = await adminJson<{ quarantine: unknown[] }>(`${url}/v1/quarantine`);
      expect([next.status, next.headers.contentrange]).toEqual([200, '0']);
    });

    it('terminates a thread stuck past the limit (a replay waiting for the write lock); a new one takes the next request', async () => {
      const unreplayed = f.sidecar.spool.countDeadLetters({ unreplayed: true });
      expect(unreplayed).toBe(1);
      const starts = thread.status().starts;
      const holder = new Database(f.sidecar.spool.path);
      holder.exec('BEGIN IMMEDIATE');
      let stopped: Awaited<ReturnType<typeof adminJson<{ message: string }>>>;
      try {
        stopped = await adminJson<{ message: string }>(`${url}/v1/deadletters/replay`, { method: 'POST' });
      } finally {
        holder.exec('ROLLBACK');
        holder.close();
      }
      expect(stopped.status).toBe(503);
      expect(stopped.body.message).toMatch(/^the request took longer than 0.1 s and was stopped/);
      const next = await adminJson<{ deadLetters: unknown[] }>(`${url}/v1/deadletters`);
      expect([next.status, next.headers.contentrange]).toEqual([200, '1']);
      expect(thread.status().starts).toBe(starts + 1);
      // Stopped inside its transaction: nothing of it was kept.
      expect(f.sidecar.spool.countDeadLetters({ unreplayed: true })).toBe(1);
    });

    it('stops its thread after an idle while and starts one at the next request', async () => {
      const idle = new AdminQueryThread({ path: f.sidecar.spool.path, sync: 'normal' }, rules, { idleMs: 1 });
      try {
        expect((await idle.run('quarantine', { offset: 0, limit: 1 })).total).toBe(0);
        await eventually(async () => (idle.status().alive ? undefined : true), 30_000, 10);
        expect((await idle.run('deadLetters', { filter: {}, offset: 0, limit: 1 })).total).toBe(1);
        expect(idle.status().starts).toBe(2);
      } finally {
        await idle.close();
      }
    });
  });
});
