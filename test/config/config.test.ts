import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_SETTINGS, loadConfig } from '../../src/config/load.js';
import { reconcilePathOf } from '../../src/config/defaults.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../helpers/pki.js';
import { startCli } from '../helpers/processes.js';

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const BASE = {
  PCM_API_URL: 'https://api.pcm.example/',
  PCM_AUTH_URL: 'https://auth.pcm.example',
  PCM_ORG_ID: ORG,
  PCM_CLIENT_ID: 'ss-1',
  PCM_CERT_FILE: '/certs/c.pem',
  PCM_KEY_FILE: '/certs/k.pem',
};

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('builds from PCM_* variables with the documented defaults', () => {
    const config = loadConfig({ env: BASE });
    expect(config.pcm.apiUrl).toBe('https://api.pcm.example');
    expect(config.organisations).toEqual([{ orgId: ORG, clientId: 'ss-1', certFile: '/certs/c.pem', keyFile: '/certs/k.pem' }]);
    expect(config.ingest).toMatchObject({ host: '127.0.0.1', port: 8431, maxBodyBytes: 10 * 1024 * 1024, maxItemsPerRequest: 5000, partialStatus: 207 });
    expect(config.rules).toMatchObject({ quality: 'send', overrides: {} });
    expect(config.spool.sync).toBe('full');
    expect(config.sender).toMatchObject({ maxBatchSize: 5000, maxBatchBytes: 10_000_000, maxBatchDelayMs: 1000 });
    expect(config.token.requestFormat).toBe('json');
  });

  it('says every problem at once, each with its variable, and what to set when no organisation is configured', () => {
    const err = errorOf(() => loadConfig({ env: { ...BASE, PCM_RETRY_MAX_DELAY_MS: 'soon', PCM_MAX_BATCH_SIZE: '-3' } }));
    expect(err.message.split('\n')).toHaveLength(2);
    expect(err.message).toMatch(/PCM_MAX_BATCH_SIZE: /);
    expect(err.message).toMatch(/PCM_RETRY_MAX_DELAY_MS: /);
    const none = errorOf(() => loadConfig({ env: {} }));
    expect(none.setting).toBe('PCM_ORG_ID');
    expect(none.message).toMatch(/no organisation configured: set PCM_ORG_ID, PCM_CLIENT_ID, PCM_CERT_FILE and PCM_KEY_FILE/);
  });

  it('names the variable that is missing, invalid or unknown', () => {
    const { PCM_API_URL: _, ...noApi } = BASE;
    expect(errorOf(() => loadConfig({ env: noApi })).setting).toBe('PCM_API_URL');
    expect(errorOf(() => loadConfig({ env: { ...BASE, PCM_SPOOL_SYNC: 'sometimes' } })).setting).toBe('PCM_SPOOL_SYNC');
    expect(errorOf(() => loadConfig({ env: { ...BASE, PCM_MAX_BATCH_SIZE: '6000' } })).setting).toBe('PCM_MAX_BATCH_SIZE');
    expect(errorOf(() => loadConfig({ env: { ...BASE, PCM_ORG_ID: 'not-a-uuid' } })).setting).toBe('PCM_ORG_ID');
    expect(errorOf(() => loadConfig({ env: { ...BASE, PCM_SPOOL_SINC: 'full' } })).setting).toBe('PCM_SPOOL_SINC');
    // Opendata goes out with this organisation's token: it must be a configured one.
    const opendata = errorOf(() => loadConfig({ env: { ...BASE, PCM_OPENDATA_ORG_ID: 'c160a6f5-e5df-5067-9e97-ec6fba62fd87' } }));
    expect(opendata.setting).toBe('PCM_OPENDATA_ORG_ID');
    expect(opendata.message).toContain('must be one of the configured organisations');
  });

  it('reconciliation: on by default with a fifth of the budget, its file next to the spool, its bounds checked', () => {
    const config = loadConfig({ env: { ...BASE, PCM_SPOOL_PATH: '/data/spool.db' } });
    expect(config.reconcile).toMatchObject({ share: 0.2, delayMs: 3_600_000, retryMs: 21_600_000, stopAfterMs: 604_800_000, retainMs: 691_200_000 });
    expect(reconcilePathOf(config)).toBe('/data/spool.db.reconcile.db');
    expect(reconcilePathOf(loadConfig({ env: { ...BASE, PCM_RECONCILE_PATH: '/var/r.db' } }))).toBe('/var/r.db');
    expect(loadConfig({ env: { ...BASE, PCM_RECONCILE_SHARE: '0' } }).reconcile.share).toBe(0);
    expect(errorOf(() => loadConfig({ env: { ...BASE, PCM_RECONCILE_SHARE: '0.8' } })).setting).toBe('PCM_RECONCILE_SHARE');
    // Kept at least as long as it is asked about.
    expect(errorOf(() => loadConfig({ env: { ...BASE, PCM_RECONCILE_RETAIN_MS: '1000' } })).setting).toBe('PCM_RECONCILE_RETAIN_MS');
  });

  it('reads a JSON file, resolves its paths against the file, and lets variables win', async () => {
    const dir = await tempDir('config');
    const file = join(dir, 'pcm.json');
    await writeFile(
      file,
      JSON.stringify({
        pcm: { apiUrl: 'https://api.pcm.example', authUrl: 'https://auth.pcm.example', caFile: 'ca.pem' },
        spool: { path: 'data/spool.db', sync: 'normal' },
        reconcile: { path: 'data/reconcile.db' },
        organisations: [
          { orgId: ORG, clientId: 'a', certFile: 'a.pem', keyFile: 'a-key.pem' },
          { orgId: 'c160a6f5-e5df-5067-9e97-ec6fba62fd87', clientId: 'b', certFile: '/abs/b.pem', keyFile: 'b-key.pem' },
        ],
      }),
    );
    const config = loadConfig({ env: { PCM_SPOOL_SYNC: 'full' }, configFile: file });
    expect(config.spool).toMatchObject({ path: join(dir, 'data/spool.db'), sync: 'full' });
    expect(config.pcm.caFile).toBe(join(dir, 'ca.pem'));
    expect(config.reconcile.path).toBe(join(dir, 'data/reconcile.db'));
    expect(config.organisations.map((o) => o.certFile)).toEqual([join(dir, 'a.pem'), '/abs/b.pem']);
    await writeFile(file, JSON.stringify({ pcm: { apiUrl: 'ftp://x', authUrl: 'https://a' }, organisations: [] }));
    expect(errorOf(() => loadConfig({ env: {}, configFile: file })).setting).toContain('pcm.apiUrl');
  });

  it('alerts: subscriptions in the file (secret file relative to it), one from PCM_ALERTS_*, with the documented defaults', async () => {
    const defaults = loadConfig({ env: BASE }).alerts;
    expect(defaults).toMatchObject({ aggregateMs: 60_000, retryIntervalMs: 300_000, retryWindowMs: 86_400_000, pageMax: 100, subscriptions: [] });
    expect(defaults.storePath).toBeUndefined();

    const fromEnv = loadConfig({ env: { ...BASE, PCM_ALERTS_URL: 'https://hooks.example/pcm', PCM_ALERTS_EVENTS: 'REPORT.DISCARDED, TOKEN.FAILED', PCM_ALERTS_EXPECT_STATUS: '2xx' } });
    expect(fromEnv.alerts.subscriptions).toEqual([
      { url: 'https://hooks.example/pcm', events: ['REPORT.DISCARDED', 'TOKEN.FAILED'], expectStatus: '2xx', headers: {}, rateLimitPerMinute: 60 },
    ]);
    expect(loadConfig({ env: { ...BASE, PCM_ALERTS_URL: 'https://h.example/', PCM_ALERTS_EVENTS: '*', PCM_ALERTS_EXPECT_STATUS: '204' } }).alerts.subscriptions[0]?.expectStatus).toBe(204);
    expect(errorOf(() => loadConfig({ env: { ...BASE, PCM_ALERTS_URL: 'https://h.example/', PCM_ALERTS_EVENTS: '*', PCM_ALERTS_EXPECT_STATUS: '302' } })).setting).toBe('PCM_ALERTS_EXPECT_STATUS');
    expect(errorOf(() => loadConfig({ env: { ...BASE, PCM_ALERTS_URL: 'https://h.example/' } })).setting).toBe('PCM_ALERTS_EVENTS');
    expect(errorOf(() => loadConfig({ env: { ...BASE, PCM_ALERTS_URL: 'https://h.example/', PCM_ALERTS_EVENTS: 'discarded' } })).setting).toBe('alerts.subscriptions.0.events.0');

    const dir = await tempDir('config-alerts');
    const file = join(dir, 'pcm.json');
    await writeFile(
      file,
      JSON.stringify({
        pcm: { apiUrl: 'https://api.pcm.example', authUrl: 'https://auth.pcm.example' },
        organisations: [{ orgId: ORG, clientId: 'a', certFile: 'a.pem', keyFile: 'a-key.pem' }],
        alerts: {
          storePath: 'data/alerts.db',
          subscriptions: [
            { id: 'ops', events: ['SLA.AT_RISK'], url: 'https://hooks.example/ops', headers: { 'x-api-key': 'k' }, rateLimitPerMinute: 10 },
            { events: ['*'], url: 'https://hooks.example/sec', oauth2: { tokenUrl: 'https://auth.example/token', clientId: 'c', clientSecretFile: 'secret.txt', scope: 'hooks' } },
          ],
        },
      }),
    );
    const config = loadConfig({ env: { PCM_ALERTS_AGGREGATE_MS: '1000' }, configFile: file });
    expect(config.alerts.aggregateMs).toBe(1000);
    expect(config.alerts.storePath).toBe(join(dir, 'data/alerts.db'));
    expect(config.alerts.subscriptions[0]).toMatchObject({ id: 'ops', headers: { 'x-api-key': 'k' }, rateLimitPerMinute: 10, expectStatus: 201 });
    expect(config.alerts.subscriptions[1]?.oauth2).toEqual({ tokenUrl: 'https://auth.example/token', clientId: 'c', clientSecretFile: join(dir, 'secret.txt'), scope: 'hooks' });
  });

  it('pcm-sidecar run stops at start with exit code 78 and the setting named', async () => {
    const proc = startCli(['run'], { ...BASE, PCM_SPOOL_SYNC: 'sometimes' });
    const { code } = await proc.exited;
    expect(code).toBe(78);
    expect(proc.lines.join('\n')).toContain('PCM_SPOOL_SYNC');
  });

  it('every command has --help', async () => {
    for (const command of ['run', 'emulate', 'demo']) {
      const proc = startCli([command, '--help']);
      expect((await proc.exited).code).toBe(0);
      expect(proc.lines[0]).toContain(`pcm-sidecar ${command}`);
    }
  });
});
