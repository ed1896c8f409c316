import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import type { ReconciliationStatus } from '../../src/reconcile/reconciler.js';
import type { DivergentReport } from '../../src/reconcile/store.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { eventually, getJson, postJson, postTls } from '../helpers/http.js';
import { tempDir, testPki } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { bothOrganisations, startInProcessEmulator } from '../helpers/stack.js';
import { adminSection } from '../helpers/admin.js';
import { adminJson } from '../helpers/admin.js';

/**
 * Reconciliation against the emulator's pairing, over real HTTPS and mTLS: the sidecar acts for both test
 * organisations (the counterpart of a CLIENT report is the other organisation's SERVER report), the emulator pairs
 * only when told (`POST /emulator/reconcile`, its Fechamento), and its own statuses, counts and peak request rate are
 * the oracle.
 */

const GET_ROUTE = 'GET /report-api/v1/private/report/{fapiInteractionId}';
type Item = Record<string, unknown>;

/** A CLIENT report and, unless `alone`, its SERVER counterpart (same fapiInteractionId), `server` changed as given. */
function pair(i: number, server: Item | 'alone' = {}): Item[] {
  const client = validReport(2 * i);
  if (server === 'alone') return [client];
  const timestamp = new Date(Date.parse(client.timestamp as string) + 100).toISOString();
  return [client, { ...validReport(2 * i + 1), fapiInteractionId: client.fapiInteractionId, endpoint: client.endpoint, timestamp, ...server }];
}

interface Traffic {
  reports: Item[];
  expected: Record<string, number>;
}

/** PAIRED pairs, pairs that differ in statusCode, CLIENT reports without a counterpart, and client timeouts (SINGLE). */
function traffic(paired: number, inconsistent: number, unpaired: number, single: number): Traffic {
  const reports: Item[] = [];
  let i = 0;
  for (let k = 0; k < paired; k++) reports.push(...pair(i++));
  for (let k = 0; k < inconsistent; k++) reports.push(...pair(i++, { statusCode: 500 }));
  for (let k = 0; k < unpaired; k++) reports.push(...pair(i++, 'alone'));
  // §9.3 / manual "Cenário 3": the client timed out (408), only it reports, pairing is impossible by nature.
  for (let k = 0; k < single; k++) reports.push({ ...pair(i++, 'alone')[0], statusCode: 408 });
  return { reports, expected: { PAIRED: 2 * paired, PAIRED_INCONSISTENT: 2 * inconsistent, UNPAIRED: unpaired, SINGLE: single } };
}

const RECONCILED = ['PAIRED', 'PAIRED_INCONSISTENT', 'UNPAIRED', 'SINGLE'];

/** The sidecar's last answers over every day and endpoint, by status. */
function totals(status: ReconciliationStatus): Record<string, number> {
  const out: Record<string, number> = {};
  for (const day of status.days) for (const [s, n] of Object.entries(day.byStatus)) out[s] = (out[s] ?? 0) + n;
  return out;
}

async function reconciliation(sidecar: RunningSidecar): Promise<ReconciliationStatus> {
  const res = await adminJson<{ reconciliation: ReconciliationStatus }>(`${sidecar.adminUrl}/v1/status`);
  expect(res.status).toBe(200);
  return res.body.reconciliation;
}

async function post(sidecar: RunningSidecar, items: Item[]): Promise<void> {
  for (let i = 0; i < items.length; i += 50) {
    const res = await postJson<{ accepted: number }>(`${sidecar.ingestUrl}/v1/reports`, items.slice(i, i + 50));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  }
}

async function delivered(sidecar: RunningSidecar, count: number): Promise<void> {
  await eventually(async () => (sidecar.spool.counts().accepted >= count ? true : undefined), 60_000, 50);
}

function configFor(dir: string, emulator: PcmEmulator, caFile: string, pkiOrgs: object, rate: Config['rate'] | object, reconcile: object, sender: object = {}): Config {
  return configSchema.parse({
    ingest: { port: 0 },
    admin: adminSection(dir),
    spool: { path: join(dir, 'spool.db') },
    pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile },
    ...pkiOrgs,
    sender: { maxBatchDelayMs: 10, retryInitialDelayMs: 20, retryMaxDelayMs: 500, ...sender },
    rate,
    reconcile,
  });
}

describe('reconciliation against the emulator: statuses recorded as the PCM pairs them, within the budget', () => {
  const RATE = 10;
  let emulator: PcmEmulator;
  let sidecar: RunningSidecar;
  let config: Config;
  let ca: Buffer;
  let sent = 0;

  beforeAll(async () => {
    const dir = await tempDir('reconcile');
    const pki = await testPki(dir);
    ca = await readFile(pki.caCert);
    // Pairing only when the test runs the Fechamento.
    emulator = await startInProcessEmulator(pki, { pairingDelayMs: 3_600_000 });
    config = configFor(
      dir,
      emulator,
      pki.caCert,
      bothOrganisations(pki),
      { limit: RATE, burst: 1 },
      // Half the budget may ask; first ask 200 ms after acceptance, again every 500 ms while not reconciled.
      // A minute between sample-rate updates, and room for the first asks of a short burst: every report is taken.
      { share: 0.5, delayMs: 200, retryMs: 500, errorRetryMs: 200, flushMs: 50, sampleIntervalMs: 60_000, maxEntries: 1_000_000 },
      // Small batches: many POSTs, so reports and GETs compete for the budget.
      { maxBatchSize: 2 },
    );
    sidecar = await startSidecar(config, createLogger('silent'));
  });
  afterAll(async () => {
    await sidecar?.stop();
    await emulator?.stop();
  });

  it('records all four statuses for generated traffic, the same counts as the emulator, and never exceeds the budget', async () => {
    const { reports, expected } = traffic(6, 3, 4, 3);
    await post(sidecar, reports);
    sent += reports.length;
    await delivered(sidecar, sent);
    // Until the Fechamento runs, the PCM answers ACCEPTED: asked again.
    await eventually(async () => ((await reconciliation(sidecar)).answers.ACCEPTED > 0 ? true : undefined));
    expect((await postTls(`${emulator.url}/emulator/reconcile`, {}, ca)).status).toBe(200);
    expect(emulator.snapshot().statuses).toEqual(expected);

    const status = await eventually(async () => {
      const s = await reconciliation(sidecar);
      const t = totals(s);
      return RECONCILED.reduce((n, k) => n + (t[k] ?? 0), 0) === reports.length ? s : undefined;
    });
    expect(totals(status)).toEqual(expected);
    // Per endpoint as well: the emulator's reports grouped the same way.
    const list = await getJson<{ data: { status: string; report: { endpoint: string } }[] }>(`${emulator.url}/emulator/reports?_limit=1000`, ca);
    const theirs: Record<string, number> = {};
    for (const r of list.body.data) theirs[`${r.report.endpoint} ${r.status}`] = (theirs[`${r.report.endpoint} ${r.status}`] ?? 0) + 1;
    const ours: Record<string, number> = {};
    for (const e of status.days.flatMap((d) => d.endpoints)) for (const [s, n] of Object.entries(e.byStatus)) ours[`${e.endpoint} ${s}`] = (ours[`${e.endpoint} ${s}`] ?? 0) + n;
    expect(ours).toEqual(theirs);

    // Every report was sampled (the budget covers them), so the estimates are the counts.
    const [day] = status.days;
    expect(status.days).toHaveLength(1);
    expect(day).toMatchObject({ considered: reports.length, sampled: reports.length, sampleRate: 1 });
    expect(day!.estimated).toEqual(day!.byStatus);
    expect(day!.divergentShare).toBeCloseTo((expected.UNPAIRED! + expected.PAIRED_INCONSISTENT!) / reports.length, 3);

    // The differing field, as the answer names it; the counterpart organisation from the report itself.
    const inconsistent = await adminJson<{ data: DivergentReport[] }>(`${sidecar.adminUrl}/v1/reconciliation?status=PAIRED_INCONSISTENT`);
    expect(inconsistent.headers.contentrange).toBe(String(expected.PAIRED_INCONSISTENT));
    expect(inconsistent.headers.acceptrange).toBe('1000');
    for (const d of inconsistent.body.data) expect(d).toMatchObject({ differingFields: ['statusCode'], final: true });
    const unpaired = await adminJson<{ data: DivergentReport[] }>(`${sidecar.adminUrl}/v1/reconciliation?status=UNPAIRED&_limit=2`);
    expect(unpaired.headers.contentrange).toBe(String(expected.UNPAIRED));
    expect(unpaired.body.data).toHaveLength(2);
    expect(unpaired.body.data[0]).toMatchObject({ role: 'CLIENT', final: false, differingFields: null });
    expect((await adminJson(`${sidecar.adminUrl}/v1/reconciliation?status=PAIRED`)).status).toBe(400);
    expect(status.divergent.length).toBe(expected.UNPAIRED! + expected.PAIRED_INCONSISTENT!);

    // The budget: every GET the emulator saw spent a reconcile permit, and the emulator never saw more calls in a
    // second than the budget allows (rate + burst; +1 for a call in transit across a second's boundary).
    const stats = emulator.snapshot();
    const gets = Object.values(stats.requests[GET_ROUTE] ?? {}).reduce((a, b) => a + b, 0);
    const rate = sidecar.sender.rate();
    expect(rate.calls.reconcile).toBe(gets);
    expect(stats.requests[GET_ROUTE]?.['429'] ?? 0).toBe(0);
    expect(stats.peakRequestsPerSecond).toBeLessThanOrEqual(RATE + 1 + 1);
    expect(rate.throttled.reconcile).toBe(0);

    const metrics = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`pcm_sidecar_reconcile_reports_total\\{status="SINGLE"\\} ${expected.SINGLE}\\n`));
    expect(metrics).toMatch(/pcm_sidecar_reconcile_reports_total\{status="ACCEPTED"\} [1-9]/);
    expect(metrics).toMatch(/pcm_sidecar_reconcile_requests_total\{result="ok"\} [1-9]/);
    expect(metrics).toContain('pcm_sidecar_reconcile_sample_rate 1');
  });

  it('asks an UNPAIRED report again: the counterpart arrives, the Fechamento runs, the next answer is PAIRED', async () => {
    const [client, server] = pair(1000);
    const fapi = (client!.fapiInteractionId as string).toLowerCase();
    const before = totals(await reconciliation(sidecar));
    await post(sidecar, [client!]);
    sent += 1;
    await delivered(sidecar, sent);
    expect((await postTls(`${emulator.url}/emulator/reconcile`, {}, ca)).status).toBe(200);
    await eventually(async () => {
      const list = await adminJson<{ data: DivergentReport[] }>(`${sidecar.adminUrl}/v1/reconciliation?status=UNPAIRED&_limit=1000`);
      return list.body.data.some((d) => d.fapiInteractionId === fapi) ? true : undefined;
    });

    await post(sidecar, [server!]);
    sent += 1;
    await delivered(sidecar, sent);
    expect((await postTls(`${emulator.url}/emulator/reconcile`, {}, ca)).status).toBe(200);
    const after = await eventually(async () => {
      const t = totals(await reconciliation(sidecar));
      return (t.PAIRED ?? 0) === (before.PAIRED ?? 0) + 2 ? t : undefined;
    });
    expect(after.UNPAIRED).toBe(before.UNPAIRED);
    const list = await adminJson<{ data: DivergentReport[] }>(`${sidecar.adminUrl}/v1/reconciliation?status=UNPAIRED&_limit=1000`);
    expect(list.body.data.some((d) => d.fapiInteractionId === fapi)).toBe(false);
    const theirs = await getJson<{ data: { status: string }[] }>(`${emulator.url}/emulator/reports?fapiInteractionId=${fapi}`, ca);
    expect(theirs.body.data.map((r) => r.status)).toEqual(['PAIRED', 'PAIRED']);
  });

  it('keeps its state across a restart: the figures are read back and a report followed before it is still asked', async () => {
    const [client, server] = pair(2000);
    const fapi = (client!.fapiInteractionId as string).toLowerCase();
    await post(sidecar, [client!]);
    sent += 1;
    await delivered(sidecar, sent);
    expect((await postTls(`${emulator.url}/emulator/reconcile`, {}, ca)).status).toBe(200);
    await eventually(async () => {
      const list = await adminJson<{ data: DivergentReport[] }>(`${sidecar.adminUrl}/v1/reconciliation?status=UNPAIRED&_limit=1000`);
      return list.body.data.some((d) => d.fapiInteractionId === fapi) ? true : undefined;
    });
    const before = await reconciliation(sidecar);
    await sidecar.stop();

    // A new process on the same files; its own first asks wait an hour, so only what the last one planned is asked.
    sidecar = await startSidecar({ ...config, reconcile: { ...config.reconcile, delayMs: 3_600_000 } }, createLogger('silent'));
    const reopened = await reconciliation(sidecar);
    expect(reopened.days.map(({ day, considered, sampled, byStatus }) => ({ day, considered, sampled, byStatus }))).toEqual(
      before.days.map(({ day, considered, sampled, byStatus }) => ({ day, considered, sampled, byStatus })),
    );
    expect(reopened.entries).toBe(before.entries);

    await post(sidecar, [server!]);
    sent += 1;
    await delivered(sidecar, sent);
    expect((await postTls(`${emulator.url}/emulator/reconcile`, {}, ca)).status).toBe(200);
    // The CLIENT report followed by the previous process is asked again by this one and recorded PAIRED (the
    // SERVER report is not asked yet: this process's first ask waits an hour).
    await eventually(async () => {
      const t = totals(await reconciliation(sidecar));
      return (t.PAIRED ?? 0) === (totals(before).PAIRED ?? 0) + 1 ? true : undefined;
    });
    const list = await adminJson<{ data: DivergentReport[] }>(`${sidecar.adminUrl}/v1/reconciliation?status=UNPAIRED&_limit=1000`);
    expect(list.body.data.some((d) => d.fapiInteractionId === fapi)).toBe(false);
  });
});

describe('reconciliation sampling: a budget too small for every report', () => {
  const RATE = 4;
  let emulator: PcmEmulator;
  let sidecar: RunningSidecar;
  let ca: Buffer;

  beforeAll(async () => {
    const dir = await tempDir('reconcile-sample');
    const pki = await testPki(dir);
    ca = await readFile(pki.caCert);
    emulator = await startInProcessEmulator(pki, { pairingDelayMs: 3_600_000 });
    const config = configFor(
      dir,
      emulator,
      pki.caCert,
      bothOrganisations(pki),
      { limit: RATE, burst: 1 },
      // 0.4 GETs/s, 0.3 of them for first asks, against hundreds of reports a second.
      { share: 0.1, delayMs: 200, retryMs: 500, errorRetryMs: 200, flushMs: 50, sampleIntervalMs: 200 },
      { maxBatchSize: 100 },
    );
    sidecar = await startSidecar(config, createLogger('silent'));
  });
  afterAll(async () => {
    await sidecar?.stop();
    await emulator?.stop();
  });

  it('records a sample rate below 1 for the day, and estimates that are the counts divided by it', async () => {
    const reports = Array.from({ length: 200 }, (_, i) => pair(i)).flat();
    const ids = new Set(reports.map((r) => r.fapiInteractionId as string));
    expect(ids.size).toBe(200);
    await post(sidecar, reports);
    await delivered(sidecar, reports.length);
    expect((await postTls(`${emulator.url}/emulator/reconcile`, {}, ca)).status).toBe(200);
    const status = await eventually(async () => {
      const s = await reconciliation(sidecar);
      const day = s.days[0];
      return day && day.considered === reports.length && day.sampled > 0 && (day.byStatus.PAIRED ?? 0) === day.sampled ? s : undefined;
    });
    const day = status.days[0]!;
    expect(day.sampled).toBeLessThan(reports.length);
    expect(day.sampleRate).toBeLessThan(1);
    expect(day.sampleRate).toBeCloseTo(day.sampled / day.considered, 12);
    expect(day.estimated.PAIRED).toBeCloseTo(day.byStatus.PAIRED! / day.sampleRate, 2);
    // All were PAIRED, so the estimate is every report of the day.
    expect(day.estimated.PAIRED).toBeCloseTo(reports.length, 0);
    expect(status.sampleRate).toBeLessThan(1);
    const metrics = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    const gauge = Number(/pcm_sidecar_reconcile_sample_rate ([\d.e-]+)/.exec(metrics)?.[1]);
    expect(gauge).toBeLessThan(1);
    expect(emulator.snapshot().peakRequestsPerSecond).toBeLessThanOrEqual(RATE + 1 + 1);
    expect(sidecar.sender.rate().calls.reconcile).toBeGreaterThanOrEqual(day.sampled);
    // Nothing asked about a fapiInteractionId that was not sent.
    const list = await getJson<{ data: { report: { fapiInteractionId: string } }[] }>(`${emulator.url}/emulator/reports?_limit=1000`, ca);
    expect(list.body.data.every((r) => ids.has(r.report.fapiInteractionId))).toBe(true);
  });
});
