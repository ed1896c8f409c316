import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/pki.js';
import { startCli } from '../helpers/processes.js';

const CATALOG = fileURLToPath(new URL('../../data/catalog/endpoints.json', import.meta.url));

async function catalog(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string[] }> {
  const proc = startCli(['catalog', ...args], env);
  const { code } = await proc.exited;
  return { code, out: proc.lines };
}

describe('pcm-sidecar catalog', () => {
  it('prints the shipped catalogue with its version and every template', async () => {
    const shipped = JSON.parse(await readFile(CATALOG, 'utf8')) as { version: string; private: { template: string }[]; opendata: unknown[] };
    const { code, out } = await catalog([]);
    expect(code).toBe(0);
    expect(out[0]).toBe(`endpoint catalogue ${shipped.version}: ${shipped.private.length} private, ${shipped.opendata.length} opendata`);
    expect(out.some((l) => l.includes('/open-banking/payments/v5/pix/payments/{paymentId}  [payments, 2026B]'))).toBe(true);
  });

  it('uses PCM_ENDPOINT_CATALOG without a rebuild, and --json prints the data', async () => {
    const dir = await tempDir('catalog');
    const newer = join(dir, 'newer.json');
    const shipped = JSON.parse(await readFile(CATALOG, 'utf8')) as { version: string; private: object[] };
    await writeFile(newer, JSON.stringify({ ...shipped, version: 'v1.04-test', private: [...shipped.private, { template: '/open-banking/accounts/v3/accounts', api: 'accounts', since: '2026D' }] }));
    const { out } = await catalog([], { PCM_ENDPOINT_CATALOG: newer });
    expect(out[0]).toMatch(/^endpoint catalogue v1\.04-test: /);
    expect(out).toContain('  /open-banking/accounts/v3/accounts  [accounts, 2026D]');
    const json = await catalog(['--json', '--catalog', newer]);
    expect(JSON.parse(json.out.join('\n')).version).toBe('v1.04-test');
  });

  it('names the file and the problem when the catalogue is broken', async () => {
    const dir = await tempDir('catalog');
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"version": "x", "private": [{"template": "no-slash"}]}');
    const { code, out } = await catalog(['--catalog', broken]);
    expect(code).toBe(78);
    expect(out.join('\n')).toContain(broken);
  });

  it('pcm-sidecar run refuses to start with a broken catalogue, naming it (exit 78)', async () => {
    const dir = await tempDir('catalog');
    const broken = join(dir, 'broken.json');
    await writeFile(broken, 'not json');
    const proc = startCli(['run'], {
      PCM_API_URL: 'https://127.0.0.1:9',
      PCM_AUTH_URL: 'https://127.0.0.1:9',
      PCM_ORG_ID: '062c5edb-4e83-5002-9981-e2a96c5ad41e',
      PCM_CLIENT_ID: 'x',
      PCM_CERT_FILE: join(dir, 'c.pem'),
      PCM_KEY_FILE: join(dir, 'k.pem'),
      PCM_SPOOL_PATH: join(dir, 'spool.db'),
      PCM_INGEST_PORT: '0',
      PCM_ADMIN_PORT: '0',
      PCM_ENDPOINT_CATALOG: broken,
    });
    expect((await proc.exited).code).toBe(78);
    expect(proc.lines.join('\n')).toContain(broken);
  });
});
