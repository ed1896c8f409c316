import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEFAULTS } from './config/defaults.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import type { PcmEmulator } from './emulator/emulator.js';
import type { PkiFiles } from './pki/certs.js';
import { startSidecar, type RunningSidecar } from './sidecar.js';

/**
 * `pcm-sidecar demo`: the emulator and the sidecar wired together on loopback, with a throw-away PKI, acting for
 * both organisations of the integration manual's PAIRED scenario (seed 000, "Cenário 1") so the pair can pair.
 */

export const DEMO_CLIENT_ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
export const DEMO_SERVER_ORG = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';
const DEMO_ORGS = [
  { orgId: DEMO_CLIENT_ORG, clientId: 'demo-client-software-statement' },
  { orgId: DEMO_SERVER_ORG, clientId: 'demo-server-software-statement' },
];

/**
 * Seed 000's PAIRED scenario brought to the current rules: a v2 endpoint (v1 is no longer listed), a URN consentId,
 * a UUID clientSSId, a tokenId, and a fresh fapiInteractionId and timestamps so the PCM's 7-day window accepts it.
 */
export function examplePair(now = Date.now(), fapiInteractionId: string = randomUUID()): [object, object] {
  const endpoint = '/open-banking/unarranged-accounts-overdraft/v2/contracts/{contractId}/scheduled-instalments';
  const client = {
    role: 'CLIENT',
    timestamp: new Date(now - 1000).toISOString(),
    fapiInteractionId,
    endpoint,
    additionalInfo: { consentId: 'urn:bv:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf', tokenId: 'c9ng8aKzxNXm' },
    statusCode: 200,
    httpMethod: 'GET',
    clientOrgId: DEMO_CLIENT_ORG,
    serverOrgId: DEMO_SERVER_ORG,
    processTimespan: 120,
    clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    endpointUriPrefix: 'https://openbanking.instituicao.com.br/namespace',
  };
  const server = {
    role: 'SERVER',
    timestamp: new Date(now - 970).toISOString(),
    fapiInteractionId,
    endpoint,
    statusCode: 200,
    httpMethod: 'GET',
    clientOrgId: DEMO_CLIENT_ORG,
    serverOrgId: DEMO_SERVER_ORG,
    processTimespan: 90,
  };
  return [client, server];
}

export interface DemoOptions {
  dir: string;
  ingestPort: number;
  /**
   * The admin listener's port (metrics, status, the admin API). Not given: PCM_ADMIN_PORT's default, or a free port
   * when the ingest's is 0 (a test asking for free ports wants them all free).
   */
  adminPort?: number;
  emulatorPort: number;
  emulatorAuthPort: number;
}

export interface RunningDemo {
  emulator: PcmEmulator;
  sidecar: RunningSidecar;
  pki: PkiFiles;
  banner: string;
  /** Stops the sidecar (each of its phases given at most `graceMs`), then the emulator. */
  stop(graceMs?: number): Promise<void>;
}

async function demoPki(dir: string): Promise<PkiFiles> {
  const marker = join(dir, 'pki.json');
  if (existsSync(marker)) {
    const files = JSON.parse(await readFile(marker, 'utf8')) as PkiFiles;
    if (DEMO_ORGS.every((o) => files.clients[o.orgId] && existsSync(files.clients[o.orgId]?.cert ?? ''))) return files;
  }
  const { generatePki } = await import('./pki/certs.js');
  const files = await generatePki(join(dir, 'pki'), DEMO_ORGS);
  await writeFile(marker, JSON.stringify(files, null, 2));
  return files;
}

/** The demo's admin token, made once and kept in its folder, so the printed curl lines keep working. */
async function demoAdminToken(dir: string): Promise<string> {
  const file = join(dir, 'admin-token');
  if (!existsSync(file)) await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return file;
}

export async function startDemo(options: DemoOptions, log: Logger): Promise<RunningDemo> {
  const dir = resolve(options.dir);
  const pki = await demoPki(dir);
  const adminTokenFile = await demoAdminToken(dir);
  // Loaded here, not with the module (so is pki/certs.js, above): what imports demo.js for its constants and
  // examplePair (the benchmarks' children among them) stays without the emulator, zod and x509.
  const [{ EMULATOR_DEFAULTS, PcmEmulator }, { configSchema }] = await Promise.all([import('./emulator/emulator.js'), import('./config/schema.js')]);
  const emulator = new PcmEmulator({
    ...EMULATOR_DEFAULTS,
    port: options.emulatorPort,
    authPort: options.emulatorAuthPort,
    cert: await readFile(pki.serverCert),
    key: await readFile(pki.serverKey),
    ca: await readFile(pki.caCert),
  });
  const emulatorUrl = await emulator.start();
  const config: Config = configSchema.parse({
    ingest: { port: options.ingestPort },
    admin: { host: '127.0.0.1', port: options.adminPort ?? (options.ingestPort === 0 ? 0 : DEFAULTS.admin.port), tokenFile: adminTokenFile },
    spool: { path: join(dir, 'spool.db') },
    pcm: { apiUrl: emulatorUrl, authUrl: emulator.authUrl, caFile: pki.caCert },
    organisations: DEMO_ORGS.map((o) => ({
      ...o,
      certFile: pki.clients[o.orgId]?.cert,
      keyFile: pki.clients[o.orgId]?.key,
    })),
    // The server organisation is the data provider: it also sends opendata reports.
    opendataOrgId: DEMO_SERVER_ORG,
    sender: { maxBatchDelayMs: 250 },
    // The demo is a fleet of one: the participant's whole budget, so a posted report shows up at once.
    rate: { fleetSize: 1 },
  });
  let sidecar: RunningSidecar;
  try {
    sidecar = await startSidecar(config, log);
  } catch (err) {
    await emulator.stop();
    throw err;
  }

  const [client, server] = examplePair();
  const pairFile = join(dir, 'example-pair.json');
  await writeFile(pairFile, JSON.stringify([client, server], null, 2));
  const fapi = (client as { fapiInteractionId: string }).fapiInteractionId;
  const banner = [
    '',
    'pcm-sidecar demo is running: gateway → sidecar → PCM emulator, all on loopback.',
    '',
    `  ingest URL    ${sidecar.ingestUrl}/v1/reports`,
    `  admin URL     ${sidecar.adminUrl}  (metrics, health; the admin API with the token in ${adminTokenFile})`,
    `  PCM emulator  ${emulatorUrl}, token host ${emulator.authUrl}  (certificates in ${pki.dir})`,
    '',
    'Post a CLIENT/SERVER pair like the manual\'s PAIRED scenario (seed 000, Cenário 1):',
    '',
    `  curl -s -X POST ${sidecar.ingestUrl}/v1/reports -H 'content-type: application/json' \\`,
    `       --data '${JSON.stringify([client, server])}'`,
    '',
    `  (the same body, pretty-printed: ${pairFile}; send it with --data-binary @${pairFile})`,
    '',
    'See what happened:',
    `  curl -s -H "Authorization: Bearer $(cat ${adminTokenFile})" ${sidecar.adminUrl}/v1/status   # spool: pending / accepted / discarded`,
    `  curl -s -H "Authorization: Bearer $(cat ${adminTokenFile})" ${sidecar.adminUrl}/v1/reports/${fapi}`,
    `  curl -s --cacert ${pki.caCert} ${emulatorUrl}/emulator/stats`,
    `  curl -s --cacert ${pki.caCert} '${emulatorUrl}/emulator/reports?fapiInteractionId=${fapi}'   # status PAIRED after ~1 s`,
    '',
    'Posting the same pair again answers "duplicates": 2. Ctrl-C stops both cleanly.',
    '',
  ].join('\n');

  return {
    emulator,
    sidecar,
    pki,
    banner,
    async stop(graceMs?: number) {
      await sidecar.stop(graceMs);
      await emulator.stop();
    },
  };
}
