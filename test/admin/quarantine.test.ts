import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../src/config/schema.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import { createLogger } from '../../src/log.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { adminJson, adminSection } from '../helpers/admin.js';
import { eventually, getJson, postJson } from '../helpers/http.js';
import { CLIENT_ORG, tempDir, testPki } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { startInProcessEmulator } from '../helpers/stack.js';

const CATALOG = fileURLToPath(new URL('../../data/catalog/endpoints.json', import.meta.url));
const BALANCES = '/open-banking/accounts/v2/accounts/{accountId}/balances';

interface Quarantined {
  id: number;
  route: string;
  count: number;
  problems: { field: string; message: string }[];
  item: { fapiInteractionId?: string };
}

interface DeadLetter {
  id: number;
  reason: string;
  message: string;
  replayedAt: string | null;
  report: { fapiInteractionId: string };
}

/**
 * GET /v1/quarantine, POST /v1/quarantine/replay, GET /v1/deadletters, POST /v1/deadletters/replay on a running
 * sidecar whose PCM is the emulator: the same functions as `pcm-sidecar quarantine|deadletter`, with the running rules.
 */
describe('admin API: quarantine and dead letters, listed and replayed', () => {
  let emulator: PcmEmulator;
  let sidecar: RunningSidecar;
  let config: Config;
  const api = (path: string): string => `${sidecar.adminUrl}${path}`;
  let ca: Buffer;
  const atEmulator = async (fapi: string): Promise<number> =>
    (await getJson<{ data: unknown[] }>(`${emulator.url}/emulator/reports?fapiInteractionId=${fapi}`, ca)).body.data.length;

  beforeAll(async () => {
    const dir = await tempDir('admin-quarantine');
    const pki = await testPki(dir);
    ca = await readFile(pki.caCert);
    emulator = await startInProcessEmulator(pki);
    // An older catalogue that does not list the balances endpoint yet.
    const full = JSON.parse(await readFile(CATALOG, 'utf8')) as { version: string; private: { template: string }[] };
    const olderFile = join(dir, 'older-catalog.json');
    await writeFile(olderFile, JSON.stringify({ ...full, version: 'test-older', private: full.private.filter((e) => e.template !== BALANCES) }));
    config = configSchema.parse({
      ingest: { port: 0 },
      admin: adminSection(dir),
      spool: { path: join(dir, 'spool.db') },
      catalog: { file: olderFile },
      pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile: pki.caCert },
      organisations: [{ orgId: CLIENT_ORG, clientId: 'client-ss', certFile: pki.clients[CLIENT_ORG]!.cert, keyFile: pki.clients[CLIENT_ORG]!.key }],
      // One report per batch, isolated at its first refusal: each queued 422 makes exactly one dead letter.
      sender: { maxBatchSize: 1, maxRefusals: 1, maxBatchDelayMs: 10, retryInitialDelayMs: 20, retryMaxDelayMs: 200 },
      rate: { fleetSize: 1 },
    });
    sidecar = await startSidecar(config, createLogger('silent'));
  });
  afterAll(async () => {
    await sidecar?.stop();
    await emulator?.stop();
  });

  it('lists the quarantine, paged; after a catalogue reload, replay moves what passes and the sidecar sends it', async () => {
    const balances = { ...validReport(0), endpoint: BALANCES };
    const broken = { ...validReport(2), httpMethod: 'FETCH' };
    const answer = await postJson<{ rejected: number }>(`${sidecar.ingestUrl}/v1/reports`, [balances, broken, validReport(4)]);
    expect([answer.status, answer.body.rejected]).toEqual([207, 2]);

    const listed = await adminJson<{ quarantine: Quarantined[] }>(api('/v1/quarantine'));
    expect([listed.status, listed.headers.contentrange, listed.headers.acceptrange]).toEqual([200, '2', '1000']);
    expect(listed.body.quarantine.map((q) => q.item.fapiInteractionId)).toEqual([balances.fapiInteractionId, broken.fapiInteractionId]);
    expect(listed.body.quarantine[0]!.problems[0]!.message).toBe(`Unlisted endpoint: ${BALANCES}`);
    expect(listed.body.quarantine.every((q) => q.route === '/v1/reports' && q.count === 1)).toBe(true);
    const second = await adminJson<{ quarantine: Quarantined[] }>(api('/v1/quarantine?_offset=1&_limit=1'));
    expect([second.headers.contentrange, second.body.quarantine.map((q) => q.id)]).toEqual(['2', [listed.body.quarantine[1]!.id]]);
    expect((await adminJson(api('/v1/quarantine?_limit=1001'))).status).toBe(412);

    // Still the older catalogue: nothing passes yet.
    expect((await adminJson(api('/v1/quarantine/replay'), { method: 'POST' })).body).toEqual({ examined: 2, moved: 0, duplicates: 0, stillFailing: 2, skipped: 0 });
    await sidecar.reload({ ...config, catalog: { file: CATALOG } });
    const replay = await adminJson(api('/v1/quarantine/replay'), { method: 'POST' });
    expect([replay.status, replay.body]).toEqual([200, { examined: 2, moved: 1, duplicates: 0, stillFailing: 1, skipped: 0 }]);
    expect((await adminJson(api('/v1/quarantine'))).headers.contentrange).toBe('1');
    await eventually(async () => ((await atEmulator(balances.fapiInteractionId as string)) === 1 ? true : undefined), 30_000, 50);
    expect((await adminJson(api('/v1/quarantine/replay'), { token: null, method: 'POST' })).status).toBe(401);
  });

  it('lists dead letters with reason and message, filtered like the CLI, and replays them once', async () => {
    emulator.faults.enqueue(422, 2, null);
    const reports = [validReport(6), validReport(8)];
    expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, reports)).status).toBe(202);
    const letters = await eventually(async () => {
      const page = await adminJson<{ deadLetters: DeadLetter[] }>(api('/v1/deadletters?reason=refused'));
      return page.headers.contentrange === '2' ? page : undefined;
    }, 30_000, 50);
    expect(letters.headers.acceptrange).toBe('1000');
    expect(letters.body.deadLetters.map((d) => d.report.fapiInteractionId).sort()).toEqual(reports.map((r) => r.fapiInteractionId as string).sort());
    for (const d of letters.body.deadLetters) expect(d.message).toMatch(/^Refused by the PCM, not sent again: report API answered 422/);
    // Newest first, paged.
    const ids = letters.body.deadLetters.map((d) => d.id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    expect((await adminJson<{ deadLetters: DeadLetter[] }>(api('/v1/deadletters?_offset=1&_limit=1'))).body.deadLetters.map((d) => d.id)).toEqual([ids[1]]);
    expect((await adminJson(api('/v1/deadletters?reason=too-old'))).headers.contentrange).toBe('0');
    expect((await adminJson(api(`/v1/deadletters?since=${new Date(Date.now() + 60_000).toISOString()}`))).headers.contentrange).toBe('0');
    for (const query of ['reason=lost', 'since=yesterday', '_limit=1001']) expect((await adminJson(api(`/v1/deadletters?${query}`))).status, query).toBe(query.startsWith('_limit') ? 412 : 400);
    // The same dead letters through the reports listing.
    expect((await adminJson(api('/v1/reports?status=discarded'))).headers.contentrange).toBe('2');

    // The cause is gone (the 422s were used up): replay, and the sidecar sends what replay stored.
    const replay = await adminJson(api('/v1/deadletters/replay?reason=refused'), { method: 'POST' });
    expect([replay.status, replay.body]).toEqual([200, { examined: 2, stored: 2, duplicates: 0, stillFailing: 0 }]);
    await eventually(async () => {
      const counts = await Promise.all(reports.map((r) => atEmulator(r.fapiInteractionId as string)));
      return counts.every((n) => n === 1) ? true : undefined;
    }, 30_000, 50);
    expect((await adminJson(api('/v1/deadletters/replay'), { method: 'POST' })).body).toEqual({ examined: 0, stored: 0, duplicates: 0, stillFailing: 0 });
    const after = await adminJson<{ deadLetters: DeadLetter[] }>(api('/v1/deadletters'));
    expect(after.body.deadLetters.every((d) => d.replayedAt !== null)).toBe(true);
  });
});
