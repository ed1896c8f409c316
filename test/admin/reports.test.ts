import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminJson } from '../helpers/admin.js';
import { ACCOUNTS, BALANCES, reportsFixture, type Fixture } from './fixture.js';

interface Listed {
  id: number;
  fapiInteractionId: string;
  endpoint: string;
  timestamp: string;
  state: string;
  lane: string;
  pcm: { status: string; reportId: string | null; message?: string | null } | null;
  deadLetter: { reason: string; message: string | null } | null;
  report: { role: string; fapiInteractionId: string };
}

/** GET /v1/reports and /v1/reports/{fapiInteractionId} on a real sidecar whose PCM is the emulator. */
describe('admin API: reports in the spool', () => {
  let f: Fixture;
  const url = (query = ''): string => `${f.sidecar.adminUrl}/v1/reports${query}`;
  const list = async (query: string): Promise<{ status: number; total: string | undefined; reports: Listed[] }> => {
    const answer = await adminJson<{ reports: Listed[] }>(url(query));
    return { status: answer.status, total: answer.headers.contentrange as string | undefined, reports: answer.body.reports };
  };

  beforeAll(async () => {
    f = await reportsFixture('admin-reports');
  });
  afterAll(async () => f?.stop());

  it('lists every report with its state, paged as seed 003 says (contentRange, acceptRange, 412 above it)', async () => {
    const all = await adminJson<{ reports: Listed[] }>(url());
    expect(all.status).toBe(200);
    expect(all.headers.contentrange).toBe(String(f.posted.length));
    expect(all.headers.acceptrange).toBe('1000');
    expect(all.body.reports.map((r) => r.fapiInteractionId).sort()).toEqual(f.posted.map((p) => p.fapiInteractionId).sort());

    const ids: number[] = [];
    for (let offset = 0; offset < f.posted.length; offset += 3) {
      const page = await list(`?_offset=${offset}&_limit=3`);
      expect(page.total).toBe(String(f.posted.length));
      expect(page.reports.length).toBe(Math.min(3, f.posted.length - offset));
      ids.push(...page.reports.map((r) => r.id));
    }
    expect(ids).toEqual(all.body.reports.map((r) => r.id));
    expect(new Set(ids).size).toBe(f.posted.length);
    const past = await list('?_offset=100');
    expect([past.status, past.reports.length, past.total]).toEqual([200, 0, String(f.posted.length)]);

    const tooLarge = await adminJson(url('?_limit=1001'));
    expect(tooLarge.status).toBe(412);
    expect(tooLarge.body).toEqual({ message: '_limit 1001 is above the largest page, 1000 (acceptRange)' });
    for (const query of ['_limit=0', '_limit=abc', '_offset=-1', 'status=lost', 'from=yesterday', 'to=2026-12-01T08:00', `endpoint=${'x'.repeat(301)}`]) {
      const bad = await adminJson(url(`?${query}`));
      expect(bad.status, query).toBe(400);
      expect(Object.keys(bad.body as object), query).toEqual(['message']);
    }
  });

  it('filters by status, with the PCM answer where there is one and the dead letter with its reason', async () => {
    const delivered = await list('?status=delivered');
    expect(delivered.total).toBe('5');
    for (const r of delivered.reports) {
      expect(r.state).toBe('delivered');
      expect(r.pcm?.status).toBe('ACCEPTED');
      expect(typeof r.pcm?.reportId).toBe('string');
      expect(r.deadLetter).toBeNull();
    }
    const discarded = await list('?status=discarded');
    expect(discarded.total).toBe('1');
    const [d] = discarded.reports;
    expect(d?.fapiInteractionId).toBe(f.posted.find((p) => p.state === 'discarded')?.fapiInteractionId);
    expect(d?.pcm?.status).toBe('DISCARDED');
    expect(d?.pcm?.message).toBeTruthy();
    expect(d?.deadLetter).toMatchObject({ reason: 'pcm', message: d?.pcm?.message });
    const pending = await list('?status=pending');
    expect(pending.total).toBe('2');
    expect(pending.reports.every((r) => r.state === 'pending' && r.pcm === null && r.report.role === 'SERVER')).toBe(true);
    expect((await list('?status=inflight')).total).toBe('0');
  });

  it('filters by endpoint and by the report timestamp (from ≤ timestamp < to), alone and together', async () => {
    const count = (pick: (p: Fixture['posted'][number]) => boolean): string => String(f.posted.filter(pick).length);
    const accounts = await list(`?endpoint=${encodeURIComponent(ACCOUNTS)}`);
    expect(accounts.total).toBe(count((p) => p.endpoint === ACCOUNTS));
    expect(accounts.reports.every((r) => r.endpoint === ACCOUNTS)).toBe(true);
    expect((await list(`?endpoint=${encodeURIComponent(BALANCES)}`)).total).toBe('2');
    expect((await list('?endpoint=%2Fopen-banking%2Fnone')).total).toBe('0');
    const split = new Date(f.split).toISOString();
    const recent = await list(`?from=${split}`);
    expect(recent.total).toBe(count((p) => p.at >= f.split));
    expect(recent.reports.every((r) => Date.parse(r.timestamp) >= f.split)).toBe(true);
    expect((await list(`?to=${split}`)).total).toBe(count((p) => p.at < f.split));
    // A window given with a zone offset: the older reports only.
    const older = f.posted.filter((p) => p.at < f.split).map((p) => p.at);
    const brt = (ms: number): string => new Date(ms - 3 * 3_600_000).toISOString().replace('Z', '-03:00');
    expect((await list(`?from=${encodeURIComponent(brt(Math.min(...older)))}&to=${encodeURIComponent(brt(Math.max(...older) + 1))}`)).total).toBe(String(older.length));
    const together = await list(`?endpoint=${encodeURIComponent(ACCOUNTS)}&status=pending&from=${split}`);
    expect(together.total).toBe(count((p) => p.endpoint === ACCOUNTS && p.state === 'pending' && p.at >= f.split));
  });

  it('GET /v1/reports/{fapiInteractionId}: both roles with their state; 404 when there is none', async () => {
    const shared = f.posted[0]!.fapiInteractionId;
    const both = await adminJson<{ reports: Listed[] }>(url(`/${shared}`));
    expect(both.status).toBe(200);
    expect(both.body.reports.map((r) => [r.report.role, r.state]).sort()).toEqual([
      ['CLIENT', 'delivered'],
      ['SERVER', 'pending'],
    ]);
    const none = await adminJson(url('/00000000-0000-4000-8000-000000000000'));
    expect(none.status).toBe(404);
    expect(Object.keys(none.body as object)).toEqual(['message']);
  });

  it('refuses without the token or with a wrong one (401, WWW-Authenticate: Bearer) and other methods (405)', async () => {
    for (const token of [null, 'not-the-admin-token-but-long-enough']) {
      const refused = await adminJson(url(), { token });
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Bearer');
      expect(Object.keys(refused.body as object)).toEqual(['message']);
    }
    const post = await adminJson(url(), { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET');
    const unknown = await adminJson(`${f.sidecar.adminUrl}/v1/nothing`);
    expect(unknown.status).toBe(404);
    expect(Object.keys(unknown.body as object)).toEqual(['message']);
    // The ingest listener has none of this.
    const onIngest = await adminJson(`${f.sidecar.ingestUrl}/v1/reports/${f.posted[0]!.fapiInteractionId}`);
    expect(onIngest.status).toBe(404);
  });
});
