import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { postJson } from '../helpers/http.js';
import { tempDir } from '../helpers/pki.js';
import { offlineConfig } from '../helpers/stack.js';
import { validReport } from '../helpers/reports.js';

/**
 * PCM_INGEST_PARSE_THREADS: a body parsed and validated on a parse thread (piscina) gets the same answer, the same
 * quarantine rows and the same stored reports as on the event loop. Two sidecars, one with a thread taking every
 * body, one without; the same bodies to both.
 */

async function start(dir: string, parseThreads: number): Promise<RunningSidecar> {
  return startSidecar(
    offlineConfig(dir, { ingest: { parseThreads, parseThreadMinBytes: 0, maxItemsPerRequest: 50 }, spool: { path: join(dir, `spool-${parseThreads}.db`) } }),
    createLogger('silent'),
  );
}

describe('parse threads', () => {
  let inline: RunningSidecar;
  let threaded: RunningSidecar;

  beforeAll(async () => {
    const dir = await tempDir('parse-threads');
    inline = await start(dir, 0);
    threaded = await start(dir, 1);
  });
  afterAll(async () => {
    await inline?.stop();
    await threaded?.stop();
  });

  const bodies: [string, string, Record<string, string>][] = [
    ['an array with valid, quality-remarked and refused items', JSON.stringify([validReport(0), { ...validReport(1), httpMethod: 'FETCH' }, { ...validReport(2), endpoint: '/nope' }, 42]), {}],
    ['one object', JSON.stringify(validReport(4)), {}],
    ['NDJSON with a broken line', `${JSON.stringify(validReport(6))}\n{broken\n${JSON.stringify(validReport(7))}`, { 'content-type': 'application/x-ndjson' }],
    ['a body that is no JSON', '{"role": ', {}],
    ['too many items', JSON.stringify(Array.from({ length: 51 }, (_, i) => validReport(100 + i))), {}],
    ['too deep', '['.repeat(100) + ']'.repeat(100), {}],
    ['a skipped health check on the interactions route', JSON.stringify({ role: 'SERVER', method: 'GET', url: '/healthz', status: 200 }), {}],
  ];

  for (const [name, body, headers] of bodies) {
    it(`${name}: the same answer either way`, async () => {
      const route = name.includes('interactions') ? '/v1/interactions' : '/v1/reports';
      const a = await postJson(`${inline.ingestUrl}${route}`, body, headers);
      const b = await postJson(`${threaded.ingestUrl}${route}`, body, headers);
      expect(b.status).toBe(a.status);
      expect(b.body).toEqual(a.body);
    });
  }

  it('stored and quarantined the same', async () => {
    await inline.spool.flush();
    await threaded.spool.flush();
    const a = inline.spool.counts();
    const b = threaded.spool.counts();
    expect(b).toEqual(a);
    expect(a.pending).toBeGreaterThan(0);
    expect(a.quarantined).toBeGreaterThan(0);
    const items = (s: RunningSidecar): string[] => s.spool.quarantined(0, 100).map((q) => `${q.route} ${q.item} ${q.problems}`);
    expect(items(threaded)).toEqual(items(inline));
    // Every body went through the thread, the ones it refused too.
    const scraped = await (await fetch(`${threaded.adminUrl}/metrics`)).text();
    expect(scraped).toMatch(/^pcm_sidecar_ingest_parse_thread_bodies_total 7$/m);
    expect(await (await fetch(`${inline.adminUrl}/metrics`)).text()).toMatch(/^pcm_sidecar_ingest_parse_thread_bodies_total 0$/m);
  });
});
