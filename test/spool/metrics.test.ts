import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.js';
import { registerSpoolMetrics } from '../../src/spool/metrics.js';
import { laneOf, Spool, type NewReport } from '../../src/spool/spool.js';
import { parseExposition } from '../helpers/metrics.js';
import { tempDir } from '../helpers/pki.js';

const ORG_A = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const ORG_B = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';

function report(orgId: string, i: number): NewReport {
  return { stream: 'private', orgId, repairs: [], dedupKey: `${orgId}|${i}`, fapiInteractionId: `id-${i}`, json: JSON.stringify({ i }) };
}

describe('the spool metrics, read from a real spool at scrape time', () => {
  it('per lane: pending and in flight, the oldest unanswered age, dead letters by reason; sizes, quarantine and evictions', async () => {
    const spool = new Spool({ path: join(await tempDir('spool-metrics'), 'spool.db'), sync: 'full', quarantineMaxRows: 2 });
    const metrics = new Metrics();
    // A minute from now: the oldest waiting report is at least that old.
    registerSpoolMetrics(metrics, spool, () => Date.now() + 60_000);
    await spool.write({
      reports: [...Array.from({ length: 6 }, (_, i) => report(ORG_A, i)), report(ORG_B, 0)],
      rejected: Array.from({ length: 5 }, (_, i) => ({ source: 'test', route: '/v1/reports', item: `{"bad":${i}}`, problems: '[]' })),
    });
    const laneA = laneOf('private', ORG_A);
    const leased = spool.lease(laneA, 3, 1_000_000)!;
    spool.complete([
      { id: leased.rows[0]!.id, state: 'accepted', reportId: 'r-0', message: null },
      { id: leased.rows[1]!.id, state: 'discarded', reportId: null, message: 'Missing fields', reason: 'pcm' },
      { id: leased.rows[2]!.id, state: 'discarded', reportId: null, message: 'Refused', reason: 'refused' },
    ]);
    spool.lease(laneA, 1, 1_000_000);
    const answered = spool.lease(laneOf('private', ORG_B), 1, 1_000_000)!;
    spool.complete([{ id: answered.rows[0]!.id, state: 'accepted', reportId: 'r-b', message: null }]);

    const families = parseExposition(await metrics.registry.metrics());
    const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
      families.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    const a = { org: ORG_A, stream: 'private' };
    const b = { org: ORG_B, stream: 'private' };
    expect(value('pcm_sidecar_spool_reports', { ...a, state: 'pending' })).toBe(2);
    expect(value('pcm_sidecar_spool_reports', { ...a, state: 'inflight' })).toBe(1);
    expect(value('pcm_sidecar_spool_reports', { ...b, state: 'pending' })).toBe(0);
    expect(value('pcm_sidecar_spool_oldest_pending_age_seconds', a)).toBeGreaterThanOrEqual(60);
    expect(value('pcm_sidecar_spool_oldest_pending_age_seconds', b)).toBe(0);
    expect(value('pcm_sidecar_spool_dead_letters', { ...a, reason: 'pcm' })).toBe(1);
    expect(value('pcm_sidecar_spool_dead_letters', { ...a, reason: 'refused' })).toBe(1);
    expect(value('pcm_sidecar_spool_dead_letters', { ...a, reason: 'too_old' })).toBe(0);
    expect(value('pcm_sidecar_spool_dead_letters', { ...b, reason: 'pcm' })).toBe(0);
    expect(value('pcm_sidecar_spool_file_size_bytes')).toBeGreaterThan(0);
    expect(value('pcm_sidecar_spool_wal_size_bytes')).toBeGreaterThanOrEqual(0);
    const items = value('pcm_sidecar_spool_quarantine_items')!;
    const evicted = value('pcm_sidecar_spool_quarantine_evicted_total')!;
    expect(items).toBeLessThanOrEqual(2);
    expect(items + evicted).toBe(5);
    await spool.close();
  });
});
