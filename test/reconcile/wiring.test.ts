import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startSidecar } from '../../src/sidecar.js';
import { tempDir } from '../helpers/pki.js';
import { offlineConfig } from '../helpers/stack.js';
import { adminJson } from '../helpers/admin.js';

/** How the sidecar wires reconciliation in, and runs without it: reporting never depends on it. */
describe('reconciliation in the sidecar', () => {
  it('opens its own file next to the spool, and answers GET /v1/reconciliation (400 for a bad query)', async () => {
    const dir = await tempDir('reconcile-wiring');
    const sidecar = await startSidecar(offlineConfig(dir), createLogger('silent'));
    try {
      expect(existsSync(join(dir, 'spool.db.reconcile.db'))).toBe(true);
      const status = await adminJson<{ reconciliation: { enabled: boolean; share: number; days: unknown[]; divergent: unknown[] } }>(`${sidecar.adminUrl}/v1/status`);
      expect(status.body.reconciliation).toMatchObject({ enabled: true, share: 0.2, days: [], divergent: [] });
      const empty = await adminJson(`${sidecar.adminUrl}/v1/reconciliation`);
      expect([empty.body, empty.headers.contentrange, empty.headers.acceptrange]).toEqual([{ data: [] }, '0', '1000']);
      // Seed 003 paging: 400 for a malformed _offset/_limit, 412 above acceptRange.
      for (const query of ['status=SINGLE', '_limit=0', '_offset=-1', '_limit=abc']) {
        const bad = await adminJson(`${sidecar.adminUrl}/v1/reconciliation?${query}`);
        expect([bad.status, Object.keys(bad.body as object)], query).toEqual([400, ['message']]);
      }
      expect((await adminJson(`${sidecar.adminUrl}/v1/reconciliation?_limit=1001`)).status).toBe(412);
    } finally {
      await sidecar.stop();
    }
  });

  it('starts without reconciliation when its file cannot be opened, or when its share is 0', async () => {
    const dir = await tempDir('reconcile-wiring');
    // A directory where the file should be.
    const broken = await startSidecar(offlineConfig(dir, { reconcile: { path: dir } }), createLogger('silent'));
    try {
      const status = await adminJson<{ reconciliation: { enabled: boolean; reason: string } }>(`${broken.adminUrl}/v1/status`);
      expect(status.body.reconciliation.enabled).toBe(false);
      expect(status.body.reconciliation.reason).toContain('cannot open the reconciliation file');
      expect((await adminJson(`${broken.adminUrl}/v1/reconciliation`)).status).toBe(404);
      expect(broken.reconciler).toBeNull();
    } finally {
      await broken.stop();
    }
    const off = await startSidecar(offlineConfig(await tempDir('reconcile-wiring'), { reconcile: { share: 0 } }), createLogger('silent'));
    try {
      expect((await adminJson<{ reconciliation: unknown }>(`${off.adminUrl}/v1/status`)).body.reconciliation).toEqual({ enabled: false, reason: 'PCM_RECONCILE_SHARE is 0' });
      expect((await (await fetch(`${off.adminUrl}/metrics`)).text()).includes('pcm_sidecar_reconcile_')).toBe(false);
    } finally {
      await off.stop();
    }
  });
});
