import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { eventually, postJson } from '../helpers/http.js';
import { tempDir } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { offlineConfig } from '../helpers/stack.js';
import { meta, WebhookReceiver } from '../helpers/webhook-receiver.js';
import { adminJson } from '../helpers/admin.js';

/**
 * GET /v1/notifications on a running sidecar's admin listener (seed 003 paging: `_offset`/`_limit`, `contentRange`
 * and `acceptRange` headers, 412 above the largest page, errors as {"message"}), and QUALITY.FINDINGS from ingest.
 */

const PAGE_MAX = 3;
const TOTAL = 7;

interface Listed {
  notifications: { id: number; transactionId: string; event: string; state: string; attempts: number; payload: { eventoNotificacao: string } }[];
}

const get = (url: string) => adminJson(url);

describe('GET /v1/notifications and QUALITY.FINDINGS', () => {
  let sidecar: RunningSidecar;
  let hook: WebhookReceiver;

  beforeAll(async () => {
    const dir = await tempDir('notifications');
    hook = await WebhookReceiver.start();
    // The receiver refuses REPORT.UNPAIRED, so those stay pending; QUALITY.FINDINGS are taken. Two subscriptions:
    // one receiver failing holds its own later notifications, not another subscription's.
    hook.answer = (body) => (body.eventoNotificacao === 'REPORT.UNPAIRED' ? 500 : 201);
    const config = offlineConfig(dir, {
      alerts: {
        aggregateMs: 0,
        pageMax: PAGE_MAX,
        retryIntervalMs: 60_000,
        // The sender of this configuration never sends: every report stored stays in the backlog.
        backlogMaxReports: 1,
        checkIntervalMs: 50,
        subscriptions: [
          { id: 'ops', events: ['REPORT.UNPAIRED'], url: hook.url },
          { id: 'quality', events: ['QUALITY.FINDINGS'], url: hook.url },
          { id: 'backlog', events: ['SPOOL.BACKLOG_HIGH'], url: hook.url },
        ],
      },
    });
    sidecar = await startSidecar(config, createLogger('silent'));
  });
  afterAll(async () => {
    await sidecar?.stop();
    await hook?.close();
  });

  it('pages with _offset/_limit, says the total in contentRange and the largest page in acceptRange, 412 above it', async () => {
    // As reconciliation will report them, through the sidecar's alerts.
    for (let i = 0; i < TOTAL; i++) sidecar.alerts.pairing({ kind: 'UNPAIRED', count: 1, orgId: '062c5edb-4e83-5002-9981-e2a96c5ad41e', fapiInteractionIds: [`f-${i}`] });
    const url = `${sidecar.adminUrl}/v1/notifications`;
    const first = await get(`${url}?_offset=0&_limit=${PAGE_MAX}`);
    expect(first.status).toBe(200);
    expect(first.headers.contentrange).toBe(String(TOTAL));
    expect(first.headers.acceptrange).toBe(String(PAGE_MAX));
    const rows = (first.body as Listed).notifications;
    expect(rows).toHaveLength(PAGE_MAX);
    expect(rows.every((n) => n.event === 'REPORT.UNPAIRED' && n.payload.eventoNotificacao === 'REPORT.UNPAIRED')).toBe(true);

    // Every page in turn: all notifications once, oldest first.
    const ids: number[] = [];
    for (let offset = 0; offset < TOTAL; offset += PAGE_MAX) {
      const page = await get(`${url}?_offset=${offset}&_limit=${PAGE_MAX}`);
      ids.push(...(page.body as Listed).notifications.map((n) => n.id));
    }
    expect(ids).toHaveLength(TOTAL);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(TOTAL);

    // Without _limit: the largest page. Past the end: an empty page, the same total.
    expect(((await get(url)).body as Listed).notifications).toHaveLength(PAGE_MAX);
    const past = await get(`${url}?_offset=100`);
    expect([past.status, (past.body as Listed).notifications.length, past.headers.contentrange]).toEqual([200, 0, String(TOTAL)]);

    const tooLarge = await get(`${url}?_limit=${PAGE_MAX + 1}`);
    expect(tooLarge.status).toBe(412);
    expect(tooLarge.body).toEqual({ message: `_limit ${PAGE_MAX + 1} is above the largest page, ${PAGE_MAX} (acceptRange)` });
    expect(tooLarge.headers.acceptrange).toBe(String(PAGE_MAX));
    for (const query of ['_limit=0', '_limit=abc', '_offset=-1', 'state=lost', 'event=discarded']) {
      const bad = await get(`${url}?${query}`);
      expect(bad.status).toBe(400);
      expect(Object.keys(bad.body as object)).toEqual(['message']);
    }

    // By state: the receiver refuses these, so each is pending after its first attempt.
    await eventually(async () => {
      const page = (await get(`${url}?state=pending&_limit=${PAGE_MAX}`)).body as Listed;
      return page.notifications.length === PAGE_MAX && page.notifications[0]!.attempts >= 1 ? true : undefined;
    }, 10_000, 50);
    expect((await get(`${url}?state=pending`)).headers.contentrange).toBe(String(TOTAL));
    expect((await get(`${url}?state=delivered`)).headers.contentrange).toBe('0');
    expect((await get(`${url}?event=QUALITY.FINDINGS`)).headers.contentrange).toBe('0');
    // A query string on the other routes changes nothing.
    expect((await get(`${sidecar.adminUrl}/healthz?x=1`)).status).toBe(200);
    expect((await get(`${sidecar.ingestUrl}/healthz?x=1`)).status).toBe(200);
  });

  it('reports accepted with quality findings raise QUALITY.FINDINGS with the count, the rules and the fapiInteractionIds', async () => {
    const report = validReport(0);
    // A CLIENT report without tokenId: stored and sent, with the finding additionalInfo.tokenId.missing.
    report.additionalInfo = { consentId: 'urn:bank:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf' };
    const answer = await postJson<{ accepted: number; warnings: number }>(`${sidecar.ingestUrl}/v1/reports`, [report, validReport(1)]);
    expect(answer.body).toMatchObject({ accepted: 2, warnings: 1 });
    const got = await eventually(async () => hook.accepted.find((r) => r.body.eventoNotificacao === 'QUALITY.FINDINGS'), 10_000, 50);
    expect(meta(got.body, 'count')).toBe('1');
    expect(meta(got.body, 'rules')).toBe('additionalInfo.tokenId.missing=1');
    expect(meta(got.body, 'fapiInteractionIds')).toBe(report.fapiInteractionId);
    // A duplicate is not a new report with findings.
    expect((await postJson<{ duplicates: number }>(`${sidecar.ingestUrl}/v1/reports`, report)).body.duplicates).toBe(1);
    const metrics = await (await request(`${sidecar.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/pcm_sidecar_alerts_notifications_total\{event="QUALITY.FINDINGS",result="delivered"\} 1\n/);
    expect(metrics).toMatch(/pcm_sidecar_alerts_notifications_pending\{subscription="ops"\} 7\n/);
    expect(metrics).toMatch(/pcm_sidecar_alerts_notifications_pending\{subscription="quality"\} 0\n/);
  });

  it('SPOOL.BACKLOG_HIGH is raised once the backlog is above PCM_ALERTS_BACKLOG_MAX_REPORTS, with its size and oldest lane', async () => {
    // The two reports of the test before wait for ever here.
    const got = await eventually(async () => hook.accepted.find((r) => r.body.eventoNotificacao === 'SPOOL.BACKLOG_HIGH'), 10_000, 50);
    expect(meta(got.body, 'state')).toBe('raised');
    expect(meta(got.body, 'count')).toBe('2');
    expect(meta(got.body, 'message')).toBe('backlog above its threshold: 2 reports wait');
    expect(meta(got.body, 'oldestLane')).toMatch(/^private:(062c5edb-4e83-5002-9981-e2a96c5ad41e|c160a6f5-e5df-5067-9e97-ec6fba62fd87)$/);
    expect(meta(got.body, 'maxReports')).toBe('1');
    expect(hook.accepted.filter((r) => r.body.eventoNotificacao === 'SPOOL.BACKLOG_HIGH')).toHaveLength(1);
  });
});
