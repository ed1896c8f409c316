import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../helpers/pki.js';
import { startCli } from '../helpers/processes.js';

/** Settings of the two topologies (README, "Topologies"): an agent forwarding to an aggregator, and its aggregator. */

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const DIRECT = {
  PCM_API_URL: 'https://api.pcm.example',
  PCM_AUTH_URL: 'https://auth.pcm.example',
  PCM_ORG_ID: ORG,
  PCM_CLIENT_ID: 'ss-1',
  PCM_CERT_FILE: '/certs/c.pem',
  PCM_KEY_FILE: '/certs/k.pem',
};
const AGENT = { PCM_ORG_ID: ORG, PCM_FORWARD_URL: 'https://aggregator.pcm.svc:8431/', PCM_FORWARD_TOKEN_FILE: '/secrets/forward/token' };

function errorOf(env: Record<string, string>, configFile?: string): ConfigError {
  try {
    loadConfig({ env, configFile });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration: agent and aggregator', () => {
  it('an agent needs its organisation ids and the aggregator, no PCM URL and no certificate', () => {
    const config = loadConfig({ env: AGENT });
    expect(config.forward).toEqual({ url: 'https://aggregator.pcm.svc:8431', tokenFile: '/secrets/forward/token' });
    expect(config.organisations).toEqual([{ orgId: ORG }]);
    expect(config.pcm).toEqual({});
    // mTLS alone is enough too.
    const mtls = loadConfig({ env: { PCM_ORG_ID: ORG, PCM_FORWARD_URL: 'https://a:8431', PCM_FORWARD_CERT_FILE: '/c.pem', PCM_FORWARD_KEY_FILE: '/k.pem' } });
    expect(mtls.forward).toMatchObject({ certFile: '/c.pem', keyFile: '/k.pem' });
  });

  it('without PCM_FORWARD_URL, each thing the PCM needs is named by its variable', () => {
    for (const name of ['PCM_API_URL', 'PCM_AUTH_URL', 'PCM_CLIENT_ID', 'PCM_CERT_FILE', 'PCM_KEY_FILE'] as const) {
      const { [name]: _, ...env } = DIRECT;
      const err = errorOf(env);
      expect(err.setting).toBe(name);
      expect(err.message).toContain('PCM_FORWARD_URL');
    }
  });

  it('an agent must be able to prove itself to the aggregator, with settings that go together', () => {
    const { PCM_FORWARD_TOKEN_FILE: _, ...noToken } = AGENT;
    expect(errorOf(noToken).setting).toBe('PCM_FORWARD_TOKEN_FILE');
    expect(errorOf({ ...AGENT, PCM_FORWARD_CERT_FILE: '/c.pem' }).setting).toBe('PCM_FORWARD_KEY_FILE');
    expect(errorOf({ ...AGENT, PCM_FORWARD_KEY_FILE: '/k.pem' }).setting).toBe('PCM_FORWARD_CERT_FILE');
    const plain = errorOf({ ...AGENT, PCM_FORWARD_URL: 'http://aggregator:8431', PCM_FORWARD_CA_FILE: '/ca.pem' });
    expect(plain.setting).toBe('PCM_FORWARD_CA_FILE');
    expect(plain.message).toContain('https');
    expect(errorOf({ ...AGENT, PCM_FORWARD_URL: 'ftp://aggregator' }).setting).toBe('PCM_FORWARD_URL');
    // A forward setting without the URL is a mistake, not a default.
    expect(errorOf({ ...DIRECT, PCM_FORWARD_TOKEN_FILE: '/t' }).setting).toBe('PCM_FORWARD_TOKEN_FILE');
  });

  it("an aggregator's ingest TLS settings go together", () => {
    expect(errorOf({ ...DIRECT, PCM_INGEST_TLS_CERT_FILE: '/s.pem' }).setting).toBe('PCM_INGEST_TLS_KEY_FILE');
    const ca = errorOf({ ...DIRECT, PCM_INGEST_CLIENT_CA_FILE: '/ca.pem' });
    expect(ca.setting).toBe('PCM_INGEST_CLIENT_CA_FILE');
    expect(ca.message).toContain('PCM_INGEST_TLS_CERT_FILE');
    const config = loadConfig({ env: { ...DIRECT, PCM_INGEST_TOKEN_FILE: '/t', PCM_INGEST_TLS_CERT_FILE: '/s.pem', PCM_INGEST_TLS_KEY_FILE: '/s-key.pem', PCM_INGEST_HOST: '0.0.0.0' } });
    expect(config.ingest).toMatchObject({ host: '0.0.0.0', tokenFile: '/t', tlsCertFile: '/s.pem', tlsKeyFile: '/s-key.pem' });
    expect(loadConfig({ env: DIRECT }).ingest.host).toBe('127.0.0.1');
  });

  it('in a file, organisations of an agent carry only their id, and file paths are relative to the file', async () => {
    const dir = await tempDir('forward-config');
    const file = join(dir, 'agent.json');
    await writeFile(
      file,
      JSON.stringify({
        forward: { url: 'https://aggregator:8431', tokenFile: 'secrets/token', caFile: 'ca.pem' },
        ingest: { tokenFile: 'ingest-token' },
        organisations: [{ orgId: ORG }, { orgId: 'c160a6f5-e5df-5067-9e97-ec6fba62fd87' }],
      }),
    );
    const config = loadConfig({ env: {}, configFile: file });
    expect(config.forward).toMatchObject({ tokenFile: join(dir, 'secrets/token'), caFile: join(dir, 'ca.pem') });
    expect(config.ingest.tokenFile).toBe(join(dir, 'ingest-token'));
    await writeFile(file, JSON.stringify({ pcm: { apiUrl: 'https://a', authUrl: 'https://b' }, organisations: [{ orgId: ORG, clientId: 'a', certFile: 'a.pem', keyFile: 'k.pem' }, { orgId: 'c160a6f5-e5df-5067-9e97-ec6fba62fd87', clientId: 'b', keyFile: 'k.pem' }] }));
    expect(errorOf({}, file).setting).toContain('organisations.1.certFile');
  });

  it('pcm-sidecar run stops with exit 78 naming PCM_INGEST_TOKEN_FILE when the file holds no usable token', async () => {
    const dir = await tempDir('forward-config');
    const token = join(dir, 'token');
    await writeFile(token, 'short\n');
    const proc = startCli(['run'], { ...AGENT, PCM_FORWARD_TOKEN_FILE: token, PCM_INGEST_TOKEN_FILE: token, PCM_SPOOL_PATH: join(dir, 'spool.db'), PCM_INGEST_PORT: '0', PCM_ADMIN_PORT: '0' });
    const { code } = await proc.exited;
    expect(code).toBe(78);
    const output = proc.lines.join('\n');
    expect(output).toContain('PCM_INGEST_TOKEN_FILE');
    expect(output).not.toContain('short');
  });
});
