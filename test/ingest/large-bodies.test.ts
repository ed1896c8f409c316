import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { postJson } from '../helpers/http.js';
import { scrape } from '../helpers/metrics.js';
import { tempDir } from '../helpers/pki.js';
import { offlineConfig } from '../helpers/stack.js';
import { validReport } from '../helpers/reports.js';

/**
 * Issue #8: ingest asks V8 for a major collection once PCM_INGEST_LARGE_BODY_GC_BYTES of large bodies (256 KiB or
 * more each) have been answered — refused or stored alike — and never for small ones. Seen from the outside, on
 * /metrics, with a sidecar that collects after every 600 KiB and one that never does.
 */

async function start(dir: string, name: string, largeBodyGcBytes: number): Promise<RunningSidecar> {
  return startSidecar(offlineConfig(dir, { ingest: { largeBodyGcBytes }, spool: { path: join(dir, `spool-${name}.db`) } }), createLogger('silent'));
}

const collections = async (sidecar: RunningSidecar): Promise<number> => {
  const text = await scrape(sidecar);
  const line = text.split('\n').find((l) => l.startsWith('pcm_sidecar_ingest_large_body_collections_total '));
  return Number(line?.split(' ')[1]);
};

describe('collections after large bodies', () => {
  let eager: RunningSidecar;
  let off: RunningSidecar;

  beforeAll(async () => {
    const dir = await tempDir('large-bodies');
    eager = await start(dir, 'eager', 600 * 1024);
    off = await start(dir, 'off', 0);
  });
  afterAll(async () => {
    await eager?.stop();
    await off?.stop();
  });

  it('asks for one once large bodies, stored or refused, add up to the setting; never for small ones or when off', async () => {
    // ~410 KiB each: a refused item, and a valid report whose additionalInfo carries a long remark; the setting is
    // 600 KiB, so one alone does not reach it and the two together do.
    const refused = JSON.stringify({ role: 'CLIENT', endpoint: 'y'.repeat(410 * 1024) });
    const big = JSON.stringify([{ ...validReport(0), additionalInfo: { ...(validReport(0).additionalInfo as object), note: 'x'.repeat(410 * 1024) } }]);
    // ~200 KiB each, under the 256 KiB a large body starts at: 8 of them, 1.6 MiB in all, count for nothing.
    const small = JSON.stringify({ role: 'CLIENT', endpoint: 'z'.repeat(200 * 1024) });
    for (const sidecar of [eager, off]) {
      for (let i = 0; i < 8; i++) expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, small)).status).toBeLessThan(500);
    }
    expect(await collections(eager)).toBe(0);
    for (const sidecar of [eager, off]) expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, refused)).status).toBeLessThan(500);
    expect(await collections(eager)).toBe(0);
    for (const sidecar of [eager, off]) expect((await postJson(`${sidecar.ingestUrl}/v1/reports`, big)).status).toBeLessThan(300);
    expect(await collections(eager)).toBe(1);
    expect(await collections(off)).toBe(0);
  });
});
