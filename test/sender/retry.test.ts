import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import { DEFAULT_ENDPOINTS_FILE } from '../../src/emulator/validate.js';
import type { PkiFiles } from '../../src/pki/certs.js';
import { backoffDelay, parseRetryAfter } from '../../src/sender/backoff.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { eventually, postJson, postTls } from '../helpers/http.js';
import { parseExposition, scrape } from '../helpers/metrics.js';
import { CLIENT_ORG, tempDir, testPki } from '../helpers/pki.js';
import { startInProcessEmulator } from '../helpers/stack.js';
import { validReport } from '../helpers/reports.js';
import { adminSection } from '../helpers/admin.js';

const ROUTE = 'POST /report-api/v1/private/report';
const NOT_AT_PCM = '/open-banking/accounts/v2/accounts/{accountId}/overdraft-limits';

describe('sender: faults at the PCM are retried without losing a row', () => {
  let dir: string;
  let pki: PkiFiles;
  let ca: Buffer;
  let emulator: PcmEmulator;
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    dir = await tempDir('retry');
    pki = await testPki(dir);
    ca = await readFile(pki.caCert);
    // The emulator's catalogue lacks one endpoint the sidecar's lists: the way a PCM DISCARDED reaches the sidecar
    // now that the sidecar refuses everything else itself.
    const catalog = JSON.parse(await readFile(DEFAULT_ENDPOINTS_FILE, 'utf8')) as { private: { template: string }[] };
    const endpointsFile = join(dir, 'emulator-endpoints.json');
    await writeFile(endpointsFile, JSON.stringify({ ...catalog, private: catalog.private.filter((e) => e.template !== NOT_AT_PCM) }));
    emulator = await startInProcessEmulator(pki, { endpointsFile });
    const config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: join(dir, 'spool.db') },
      pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile: pki.caCert },
      organisations: [{ orgId: CLIENT_ORG, clientId: 'client-ss', certFile: pki.clients[CLIENT_ORG]!.cert, keyFile: pki.clients[CLIENT_ORG]!.key }],
      sender: { maxBatchDelayMs: 10, maxConcurrentBatches: 1, retryInitialDelayMs: 10, retryMaxDelayMs: 100 },
      // One sidecar alone at this PCM: the whole fleet budget (240 requests/s), not a 500th of it.
      rate: { fleetSize: 1 },
    });
    sidecar = await startSidecar(config, createLogger('silent'));
  });
  afterAll(async () => {
    await sidecar.stop();
    await emulator.stop();
  });

  async function sendThrough(fault: object, count: number): Promise<{ statuses: Record<string, number>; accepted: number }> {
    const before = emulator.snapshot();
    expect((await postTls(`${emulator.url}/emulator/faults`, fault, ca)).status).toBe(200);
    const reports = Array.from({ length: count }, (_, i) => validReport(i * 2));
    const target = sidecar.spool.counts().accepted + count;
    expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, reports)).status).toBe(202);
    await eventually(async () => (sidecar.spool.counts().accepted === target ? true : undefined), 30_000, 20);
    const after = emulator.snapshot();
    const statuses: Record<string, number> = {};
    for (const [code, n] of Object.entries(after.requests[ROUTE] ?? {})) statuses[code] = n - (before.requests[ROUTE]?.[code] ?? 0);
    return { statuses, accepted: (after.reports.ACCEPTED ?? 0) - (before.reports.ACCEPTED ?? 0) };
  }

  it.each([
    ['500', { status: 500, count: 2 }],
    ['502', { status: 502, count: 1 }],
    ['503', { status: 503, count: 3 }],
    ['504', { status: 504, count: 1 }],
    ['429 with Retry-After', { status: 429, count: 2, retryAfter: 0 }],
    ['429 without Retry-After', { status: 429, count: 1 }],
    ['403', { status: 403, count: 1 }],
    ['400 for the whole request', { status: 400, count: 1 }],
  ])('%s: retried until accepted, every report delivered once', async (_name, fault) => {
    const before = await senderCounts(String(fault.status));
    const { statuses, accepted } = await sendThrough(fault, 7);
    expect(statuses[String(fault.status)]).toBe(fault.count);
    expect(accepted).toBe(7);
    expect(sidecar.spool.counts()).toMatchObject({ pending: 0, inflight: 0, discarded: 0 });
    // The sidecar's metrics count the same answers as the emulator, and one retry for each.
    const after = await senderCounts(String(fault.status));
    expect({ requests: after.requests - before.requests, retries: after.retries - before.retries }).toEqual({ requests: fault.count, retries: fault.count });
  });

  /** The private lane's POSTs answered `status` and its retries, as /metrics says. */
  async function senderCounts(status: string): Promise<{ requests: number; retries: number }> {
    const families = parseExposition(await scrape(sidecar));
    const lane = (s: { labels: Record<string, string> }): boolean => s.labels.org === CLIENT_ORG && s.labels.stream === 'private';
    return {
      requests: families.get('pcm_sidecar_sender_requests_total')?.samples.find((s) => lane(s) && s.labels.status_code === status)?.value ?? 0,
      retries: families.get('pcm_sidecar_sender_retries_total')?.samples.find(lane)?.value ?? 0,
    };
  }

  it('413: the batch is halved until the PCM takes it', async () => {
    const { statuses, accepted } = await sendThrough({ status: 413, count: 1 }, 10);
    expect(statuses['413']).toBe(1);
    expect(statuses['200']).toBe(2);
    expect(accepted).toBe(10);
  });

  it('DISCARDED items keep the PCM message and are not resent; the rest of the batch is ACCEPTED', async () => {
    const before = emulator.snapshot();
    const unlisted = { ...validReport(0), endpoint: NOT_AT_PCM };
    const good = validReport(2);
    const answer = await postJson(`${sidecar.ingestUrl}/v1/reports`, [unlisted, good]);
    expect(answer.status).toBe(202);
    await eventually(async () => (sidecar.spool.counts().discarded >= 1 ? true : undefined), 30_000, 20);
    await new Promise((r) => setTimeout(r, 100));
    const after = emulator.snapshot();
    expect((after.requests[ROUTE]?.['207'] ?? 0) - (before.requests[ROUTE]?.['207'] ?? 0)).toBe(1);
    expect((after.reports.DISCARDED ?? 0) - (before.reports.DISCARDED ?? 0)).toBe(1);
    expect(sidecar.spool.counts()).toMatchObject({ pending: 0, inflight: 0, discarded: 1 });
    // The PCM's answer per report, as /metrics counts it; the dead letter, as the spool's gauge shows it.
    const families = parseExposition(await scrape(sidecar));
    const sample = (name: string, labels: Record<string, string>): number | undefined =>
      families.get(name)?.samples.find((s) => Object.entries({ org: CLIENT_ORG, stream: 'private', ...labels }).every(([k, v]) => s.labels[k] === v))?.value;
    expect(sample('pcm_sidecar_sender_reports_total', { outcome: 'discarded' })).toBe(1);
    expect(sample('pcm_sidecar_spool_dead_letters', { reason: 'pcm' })).toBe(1);
  });

  it.each([403, 404, 406, 415])('%d is about the request, not its reports: held and retried past maxRefusals, never dead-lettered', async (status) => {
    const before = sidecar.spool.counts();
    // 25 answers would dead-letter all 3 reports if they counted as refusals (see the test below).
    const { statuses, accepted } = await sendThrough({ status, count: 25 }, 3);
    expect(statuses[String(status)]).toBe(25);
    expect(accepted).toBe(3);
    expect(sidecar.spool.counts().discarded - before.discarded).toBe(0);
  });

  it('a report that passes the age limit while its batch is being retried becomes a too-old dead letter, not a request', async () => {
    const before = sidecar.spool.counts();
    expect((await postTls(`${emulator.url}/emulator/faults`, { status: 503, count: 10_000 }, ca)).status).toBe(200);
    try {
      // Valid when it arrives (7 days less 2 s old), too old a few retries later.
      const report = { ...validReport(0), timestamp: new Date(Date.now() - 7 * 24 * 3_600_000 + 2000).toISOString() };
      expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, [report])).status).toBe(202);
      await eventually(async () => (sidecar.spool.counts().discarded - before.discarded === 1 ? true : undefined), 30_000, 20);
      expect(sidecar.spool.counts()).toMatchObject({ pending: 0, inflight: 0 });
      const [letter] = sidecar.spool.deadLetters({ limit: 1 });
      expect(letter).toMatchObject({ reason: 'too-old' });
      expect(letter?.message).toMatch(/while its batch waited to be delivered/);
    } finally {
      const { Agent, request } = await import('undici');
      const dispatcher = new Agent({ connect: { ca } });
      await (await request(`${emulator.url}/emulator/faults`, { method: 'DELETE', dispatcher })).body.text();
      await dispatcher.close();
    }
  });

  it('a 401 while the PCM still hands out the same token: the sender asks /token-fresh/ and delivers', async () => {
    const before = emulator.snapshot();
    const { accepted } = await sendThrough({ status: 401, count: 1 }, 3);
    expect(accepted).toBe(3);
    const after = emulator.snapshot();
    expect((after.requests['POST /token-fresh/']?.['200'] ?? 0) - (before.requests['POST /token-fresh/']?.['200'] ?? 0)).toBe(1);
  });

  it('a batch the PCM keeps refusing is split until each refused report stands alone, then dead-lettered as discarded', async () => {
    const before = sidecar.spool.counts();
    const refused = async (): Promise<number> =>
      parseExposition(await scrape(sidecar))
        .get('pcm_sidecar_sender_reports_total')
        ?.samples.filter((s) => s.labels.outcome === 'refused')
        .reduce((n, s) => n + s.value, 0) ?? 0;
    const refusedBefore = await refused();
    // 3 reports, maxRefusals 5: [3] ×5 → [2] ×5 → [1] ×5, [1] ×5 → [1] ×5 = 25 refusals, then nothing is left to send.
    expect((await postTls(`${emulator.url}/emulator/faults`, { status: 422, count: 25 }, ca)).status).toBe(200);
    const reports = [validReport(0), validReport(2), validReport(4)];
    expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, reports)).status).toBe(202);
    await eventually(async () => (sidecar.spool.counts().discarded - before.discarded === 3 ? true : undefined), 60_000, 20);
    expect(sidecar.spool.counts()).toMatchObject({ pending: 0, inflight: 0 });
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(join(dir, 'spool.db'), { readonly: true });
    const messages = (db.prepare("SELECT pcm_message AS m FROM reports WHERE state = 'discarded' ORDER BY id DESC LIMIT 3").all() as { m: string }[]).map((r) => r.m);
    db.close();
    for (const m of messages) expect(m).toMatch(/^Refused by the PCM, not sent again: report API answered 422/);
    // Counted as the far end's answer too, beside DISCARDED.
    expect((await refused()) - refusedBefore).toBe(3);
    // The lane is free again: the next reports go through.
    expect((await sendThrough({ status: 503, count: 1 }, 2)).accepted).toBe(2);
  });
});

describe('backoff', () => {
  it('grows exponentially within [ceiling/2, ceiling], capped, with Retry-After as a floor', () => {
    expect(backoffDelay(1, 100, 10_000, undefined, () => 0)).toBe(50);
    expect(backoffDelay(1, 100, 10_000, undefined, () => 1)).toBe(100);
    expect(backoffDelay(4, 100, 10_000, undefined, () => 1)).toBe(800);
    expect(backoffDelay(30, 100, 10_000, undefined, () => 1)).toBe(10_000);
    expect(backoffDelay(1, 100, 10_000, 5_000, () => 1)).toBe(5_000);
  });

  it('reads Retry-After as seconds or an HTTP date, and ignores a malformed one', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
