import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.js';
import { EMULATOR_DEFAULTS, PcmEmulator, type EmulatorOptions } from '../../src/emulator/emulator.js';
import type { PkiFiles } from '../../src/pki/certs.js';
import { adminEnv, adminSection } from './admin.js';
import { CLIENT_ORG, SERVER_ORG, tempDir, testPki } from './pki.js';
import { startCli, waitForLogValue, type Proc } from './processes.js';

export interface Started {
  proc: Proc;
  url: string;
}

export interface StartedSidecar extends Started {
  /** The admin listener: health, readiness, metrics and the admin API (token: helpers/admin.ts). */
  adminUrl: string;
}

export interface StartedEmulator extends Started {
  authUrl: string;
}

/** `pcm-sidecar emulate` as its own process on a free loopback port. */
export async function startEmulatorProcess(pki: PkiFiles, args: string[] = []): Promise<StartedEmulator> {
  const proc = startCli(['emulate', '--port', '0', '--auth-port', '0', '--cert', pki.serverCert, '--key', pki.serverKey, '--ca', pki.caCert, ...args]);
  return { proc, url: await waitForLogValue(proc, 'url'), authUrl: await waitForLogValue(proc, 'authUrl') };
}

/** Environment for `pcm-sidecar run` acting for the client organisation (and the server one via --config when asked). */
export function sidecarEnv(
  pki: PkiFiles,
  emulator: { url: string; authUrl: string },
  spoolPath: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const client = pki.clients[CLIENT_ORG]!;
  return {
    PCM_API_URL: emulator.url,
    PCM_AUTH_URL: emulator.authUrl,
    PCM_CA_FILE: pki.caCert,
    PCM_ORG_ID: CLIENT_ORG,
    PCM_CLIENT_ID: 'client-ss',
    PCM_CERT_FILE: client.cert,
    PCM_KEY_FILE: client.key,
    PCM_SPOOL_PATH: spoolPath,
    PCM_INGEST_PORT: '0',
    // A free port of its own, or parallel tests would meet on 9431; the token file next to the spool.
    ...adminEnv(dirname(spoolPath)),
    PCM_MAX_BATCH_DELAY_MS: '100',
    PCM_RETRY_INITIAL_DELAY_MS: '50',
    PCM_RETRY_MAX_DELAY_MS: '500',
    // One sidecar at its emulator: the whole fleet budget (240 requests/s), not the default 500th of it.
    PCM_FLEET_SIZE: '1',
    ...extra,
  };
}

/** A JSON config file body acting for both test organisations. */
export function bothOrganisations(pki: PkiFiles): object {
  return {
    organisations: [
      { orgId: CLIENT_ORG, clientId: 'client-ss', certFile: pki.clients[CLIENT_ORG]!.cert, keyFile: pki.clients[CLIENT_ORG]!.key },
      { orgId: SERVER_ORG, clientId: 'server-ss', certFile: pki.clients[SERVER_ORG]!.cert, keyFile: pki.clients[SERVER_ORG]!.key },
    ],
  };
}

export async function startSidecarProcess(env: Record<string, string>, args: string[] = []): Promise<StartedSidecar> {
  const proc = startCli(['run', ...args], env);
  return { proc, url: await waitForLogValue(proc, 'ingestUrl'), adminUrl: await waitForLogValue(proc, 'adminUrl') };
}

export interface TwoOrgStack {
  emulator: StartedEmulator;
  ca: Buffer;
  spoolPath: string;
  /** Environment and arguments of a `pcm-sidecar run` acting for both test organisations on that spool. */
  env: Record<string, string>;
  args: string[];
}

/** An emulator process and, ready to start, a sidecar configured (by file) for both test organisations. */
export async function twoOrgStack(
  prefix: string,
  extraEnv: Record<string, string> = {},
  emulatorArgs: (dir: string) => Promise<string[]> | string[] = () => [],
): Promise<TwoOrgStack> {
  const dir = await tempDir(prefix);
  const pki = await testPki(dir);
  const emulator = await startEmulatorProcess(pki, await emulatorArgs(dir));
  const spoolPath = join(dir, 'spool.db');
  const configFile = join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(bothOrganisations(pki)));
  const env = sidecarEnv(pki, emulator, spoolPath, extraEnv);
  for (const key of ['PCM_ORG_ID', 'PCM_CLIENT_ID', 'PCM_CERT_FILE', 'PCM_KEY_FILE']) delete env[key];
  return { emulator, ca: await readFile(pki.caCert), spoolPath, env, args: ['--config', configFile] };
}

/** An in-process emulator on free loopback ports, trusting the test CA. */
export async function startInProcessEmulator(pki: PkiFiles, overrides: Partial<EmulatorOptions> = {}): Promise<PcmEmulator> {
  const emulator = new PcmEmulator({
    ...EMULATOR_DEFAULTS,
    port: 0,
    authPort: 0,
    cert: await readFile(pki.serverCert),
    key: await readFile(pki.serverKey),
    ca: await readFile(pki.caCert),
    ...overrides,
  });
  await emulator.start();
  return emulator;
}

/**
 * A configuration for both test organisations whose certificates do not exist: the sender never sends, so a test
 * sees only ingest and spool. `sections` are merged into the defaults one section deep (ingest, spool, rules, …).
 */
export function offlineConfig(dir: string, sections: Record<string, Record<string, unknown>> = {}): Config {
  const none = { certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none-key.pem') };
  return configSchema.parse({
    ...sections,
    ingest: { port: 0, ...sections.ingest },
    admin: { ...adminSection(dir), ...sections.admin },
    spool: { path: join(dir, 'spool.db'), ...sections.spool },
    pcm: { apiUrl: 'https://127.0.0.1:9', authUrl: 'https://127.0.0.1:9', ...sections.pcm },
    organisations: [
      { orgId: CLIENT_ORG, clientId: 'c', clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d', ...none },
      { orgId: SERVER_ORG, clientId: 's', ...none },
    ],
  });
}
