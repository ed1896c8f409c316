import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import type { RateBudgetStatus } from '../../src/sender/rate-budget.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { getJson, postJson, postTls } from '../helpers/http.js';
import { tempDir, testPki } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { bothOrganisations, startInProcessEmulator } from '../helpers/stack.js';
import { adminSection } from '../helpers/admin.js';
import { adminJson } from '../helpers/admin.js';

const ROUTE = 'POST /report-api/v1/private/report';
/** The emulator's limit, and the sidecar's budget well above it: the PCM, not the budget, says when it is too much. */
const EMULATOR_RATE = 10;
const BUDGET_RATE = 100;
const REPORTS = 400;

const sum = (counts: Record<string, number> | undefined): number => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** CLIENT reports only: they all go through the client organisation's lane. */
const clientReports = (n: number): Record<string, unknown>[] => Array.from({ length: n }, (_, i) => validReport(i * 2));

describe('rate budget against the emulator: its 429s slow the budget, every report arrives once, the rate recovers', () => {
  let emulator: PcmEmulator;
  let sidecar: RunningSidecar;
  let ca: Buffer;

  beforeAll(async () => {
    const dir = await tempDir('rate');
    const pki = await testPki(dir);
    ca = await readFile(pki.caCert);
    emulator = await startInProcessEmulator(pki, { rateLimit: EMULATOR_RATE });
    const config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: join(dir, 'spool.db') },
      pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile: pki.caCert },
      // Two organisations: two lanes, one budget.
      ...bothOrganisations(pki),
      sender: { maxBatchSize: 5, maxBatchDelayMs: 10, maxConcurrentBatches: 4, retryInitialDelayMs: 20, retryMaxDelayMs: 500 },
      rate: { limit: BUDGET_RATE, burst: 10 },
    });
    sidecar = await startSidecar(config, createLogger('silent'));
  });
  afterAll(async () => {
    await sidecar?.stop();
    await emulator?.stop();
  });

  /** Polls the budget every 20 ms until `done` or `timeoutMs`; returns the lowest rate and the longest block seen. */
  async function watch(done: () => boolean, timeoutMs: number): Promise<{ lowest: number; longestBlockMs: number; polls: number }> {
    const deadline = Date.now() + timeoutMs;
    let lowest = Number.POSITIVE_INFINITY;
    let longestBlockMs = 0;
    let polls = 0;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms: ${JSON.stringify(sidecar.spool.counts())}`);
      const rate = sidecar.sender.rate();
      lowest = Math.min(lowest, rate.rate);
      longestBlockMs = Math.max(longestBlockMs, rate.blockedForMs);
      polls++;
      await sleep(20);
    }
    return { lowest, longestBlockMs, polls };
  }

  it(`${REPORTS} reports in batches of 5 through two lanes at a budget of ${BUDGET_RATE}/s, against a PCM taking ${EMULATOR_RATE}/s`, async () => {
    const reports = Array.from({ length: REPORTS }, (_, i) => validReport(i));
    for (let i = 0; i < REPORTS; i += 100) {
      expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, reports.slice(i, i + 100))).status).toBe(202);
    }
    const seen = await watch(() => sidecar.spool.counts().accepted === REPORTS, 60_000);

    // Delivered, each once.
    expect(sidecar.spool.counts()).toMatchObject({ accepted: REPORTS, pending: 0, inflight: 0, discarded: 0 });
    const stats = emulator.snapshot();
    expect(stats.reports.ACCEPTED).toBe(REPORTS);
    expect(stats.distinctFapiInteractionIds).toBe(REPORTS);
    expect(stats.duplicatesReceived).toBe(0);

    // The PCM pushed back, and the budget slowed down and honoured its Retry-After: 1.
    const rate: RateBudgetStatus = sidecar.sender.rate();
    const throttled = stats.requests[ROUTE]?.['429'] ?? 0;
    expect(throttled).toBeGreaterThan(0);
    expect(rate.throttled.report).toBe(throttled);
    expect(seen.lowest).toBeLessThanOrEqual(BUDGET_RATE / 2);
    expect(seen.longestBlockMs).toBeGreaterThan(0);
    expect(rate.waitSeconds.report).toBeGreaterThan(0);

    // Every call went through the one budget: each report POST and each token request the emulator saw.
    expect(rate.calls.report).toBe(sum(stats.requests[ROUTE]));
    const tokenRequests = sum(stats.requests['POST /token/']) + sum(stats.requests['POST /token-fresh/']);
    expect(tokenRequests).toBe(2);
    expect(rate.calls.token).toBe(tokenRequests);
    expect(sidecar.sender.status().reduce((n, lane) => n + lane.tokensFetched, 0)).toBe(2);
  });

  it('recovers by itself: paced traffic the PCM takes brings the rate back to the configured one', async () => {
    // One more 429 (with Retry-After: 1) so the budget is surely down, whatever the end of the drain did.
    expect((await postTls(`${emulator.url}/emulator/faults`, { status: 429, count: 1, retryAfter: 1 }, ca)).status).toBe(200);
    let target = sidecar.spool.counts().accepted + 5;
    expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, clientReports(5))).status).toBe(202);
    await watch(() => sidecar.spool.counts().accepted === target, 30_000);
    const before = sidecar.sender.rate();
    expect(before.rate).toBeLessThanOrEqual(BUDGET_RATE / 2 + BUDGET_RATE * 0.05);
    // One batch of 5 CLIENT reports (one lane) at a time, the next only after the last was accepted and 200 ms more:
    // under 5 requests/s, half the emulator's 10 whatever the machine's speed (a fixed 100 ms pace sat at its limit
    // and drew 429s on a slow CI machine). Each 2xx adds 5 % of the budget back; at most 60 batches.
    for (let i = 0; i < 60 && sidecar.sender.rate().rate < BUDGET_RATE; i++) {
      expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, clientReports(5))).status).toBe(202);
      target += 5;
      await watch(() => sidecar.spool.counts().accepted === target, 30_000);
      await sleep(200);
    }
    const after = sidecar.sender.rate();
    expect(after.rate).toBe(BUDGET_RATE);
    expect(after.throttled.report).toBe(before.throttled.report);
  });

  it('shows the budget in /v1/status and /metrics', async () => {
    const status = await adminJson<{ rateBudget: RateBudgetStatus }>(`${sidecar.adminUrl}/v1/status`);
    expect(status.body.rateBudget).toMatchObject({ configuredRate: BUDGET_RATE, burst: 10 });
    expect(status.body.rateBudget.calls.report).toBeGreaterThan(0);
    const metrics = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    expect(metrics).toContain(`pcm_sidecar_sender_rate_limit_requests_per_second{limit="configured"} ${BUDGET_RATE}`);
    expect(metrics).toMatch(/pcm_sidecar_sender_rate_limit_requests_per_second\{limit="current"\} [\d.]+/);
    expect(metrics).toMatch(/pcm_sidecar_sender_rate_limit_wait_seconds_total\{call="report"\} [\d.]*[1-9]/);
    expect(metrics).toMatch(/pcm_sidecar_sender_rate_limit_throttled_total\{call="report"\} [1-9]/);
    expect(metrics).toContain('pcm_sidecar_sender_rate_limit_calls_total{call="token"} 2');
  });
});
