import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { postJson } from '../helpers/http.js';
import { tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { sidecarEnv, startSidecarProcess } from '../helpers/stack.js';

/** SIGHUP reads the endpoint catalogue again (issue #11: a catalogue update without a restart); a bad one is refused. */

const CATALOG = fileURLToPath(new URL('../../data/catalog/endpoints.json', import.meta.url));
const BALANCES = '/open-banking/accounts/v2/accounts/{accountId}/balances';

describe('SIGHUP', () => {
  it('reloads the endpoint catalogue for the reports that come next; a broken one is logged and the running one stays', async () => {
    const dir = await tempDir('reload');
    const pki = await testPki(dir);
    const full = JSON.parse(await readFile(CATALOG, 'utf8')) as { version: string; private: { template: string }[] };
    const file = join(dir, 'catalog.json');
    await writeFile(file, JSON.stringify({ ...full, version: 'test-older', private: full.private.filter((e) => e.template !== BALANCES) }));
    const env = sidecarEnv(pki, { url: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9' }, join(dir, 'spool.db'), { PCM_ENDPOINT_CATALOG: file });
    const sidecar = await startSidecarProcess(env);
    const balances = (): Record<string, unknown> => ({ ...validReport(0), endpoint: BALANCES });
    try {
      const before = await postJson<{ rejected?: number }>(`${sidecar.url}/v1/reports`, [balances()]);
      expect(before.status).toBe(207);

      await writeFile(file, JSON.stringify({ ...full, version: 'test-newer' }));
      sidecar.proc.child.kill('SIGHUP');
      await sidecar.proc.waitFor((line) => line.includes('endpoint catalogue and rules reloaded') && line.includes('test-newer'), 10_000);
      const after = await postJson<{ accepted: number }>(`${sidecar.url}/v1/reports`, [balances()]);
      expect(after.status).toBe(202);
      expect(after.body.accepted).toBe(1);

      await writeFile(file, '{"version": 1');
      sidecar.proc.child.kill('SIGHUP');
      await sidecar.proc.waitFor((line) => line.includes('SIGHUP') && line.includes('running catalogue, rules and subscriptions stay'), 10_000);
      // Still up, still with the newer catalogue.
      expect((await postJson<{ accepted: number }>(`${sidecar.url}/v1/reports`, [balances()])).status).toBe(202);
    } finally {
      expect((await stopProc(sidecar.proc)).code).toBe(0);
    }
  });
});
