import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema.js';
import type { PcmEmulator } from '../../src/emulator/emulator.js';
import { DEFAULT_ENDPOINTS_FILE } from '../../src/emulator/validate.js';
import { createLogger } from '../../src/log.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar.js';
import { adminSection } from '../helpers/admin.js';
import { eventually, postJson } from '../helpers/http.js';
import { CLIENT_ORG, SERVER_ORG, tempDir, testPki } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { startInProcessEmulator } from '../helpers/stack.js';

/**
 * A real sidecar with the emulator as its PCM and a known set of reports in its spool, for the admin API's tests:
 * the client organisation delivers (one endpoint the emulator does not list, so the PCM answers DISCARDED for it),
 * the server organisation has no certificate, so its reports stay pending.
 */

export const ACCOUNTS = '/open-banking/accounts/v2/accounts';
export const BALANCES = '/open-banking/accounts/v2/accounts/{accountId}/balances';
/** Listed by the sidecar's catalogue, not by the emulator's: the PCM's DISCARDED. */
export const NOT_AT_PCM = '/open-banking/accounts/v2/accounts/{accountId}/overdraft-limits';

export interface Posted {
  fapiInteractionId: string;
  role: 'CLIENT' | 'SERVER';
  endpoint: string;
  at: number;
  /** What the spool must end with. */
  state: 'delivered' | 'discarded' | 'pending';
}

export interface Fixture {
  emulator: PcmEmulator;
  sidecar: RunningSidecar;
  /** The moment the timestamps were counted back from; `split` lies between the recent and the older reports. */
  now: number;
  split: number;
  posted: Posted[];
  stop(): Promise<void>;
}

const HOUR = 3_600_000;

export async function reportsFixture(prefix: string): Promise<Fixture> {
  const dir = await tempDir(prefix);
  const pki = await testPki(dir);
  const catalog = JSON.parse(await readFile(DEFAULT_ENDPOINTS_FILE, 'utf8')) as { private: { template: string }[] };
  const endpointsFile = join(dir, 'emulator-endpoints.json');
  await writeFile(endpointsFile, JSON.stringify({ ...catalog, private: catalog.private.filter((e) => e.template !== NOT_AT_PCM) }));
  const emulator = await startInProcessEmulator(pki, { endpointsFile });
  const config = configSchema.parse({
    ingest: { port: 0 },
    admin: adminSection(dir),
    spool: { path: join(dir, 'spool.db') },
    pcm: { apiUrl: emulator.url, authUrl: emulator.authUrl, caFile: pki.caCert },
    organisations: [
      { orgId: CLIENT_ORG, clientId: 'client-ss', certFile: pki.clients[CLIENT_ORG]!.cert, keyFile: pki.clients[CLIENT_ORG]!.key },
      { orgId: SERVER_ORG, clientId: 'server-ss', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none-key.pem') },
    ],
    sender: { maxBatchDelayMs: 10, retryInitialDelayMs: 20, retryMaxDelayMs: 200 },
    rate: { fleetSize: 1 },
  });
  const sidecar = await startSidecar(config, createLogger('silent'));
  const now = Date.now();
  const posted: Posted[] = [];
  const items: Record<string, unknown>[] = [];
  const add = (role: Posted['role'], endpoint: string, at: number, state: Posted['state'], fapiInteractionId?: string): void => {
    const item = { ...validReport(role === 'CLIENT' ? 0 : 1), endpoint, timestamp: new Date(at).toISOString(), ...(fapiInteractionId ? { fapiInteractionId } : {}) };
    items.push(item);
    posted.push({ fapiInteractionId: item.fapiInteractionId as string, role, endpoint, at, state });
  };
  for (let i = 0; i < 3; i++) add('CLIENT', ACCOUNTS, now - HOUR - i * 1000, 'delivered');
  for (let i = 0; i < 2; i++) add('CLIENT', BALANCES, now - 30 * HOUR - i * 1000, 'delivered');
  add('CLIENT', NOT_AT_PCM, now - HOUR - 5000, 'discarded');
  // The server's side of the first call (the same fapiInteractionId), and one more of its own.
  add('SERVER', ACCOUNTS, now - HOUR + 100, 'pending', posted[0]!.fapiInteractionId);
  add('SERVER', ACCOUNTS, now - 2 * HOUR, 'pending');
  const answer = await postJson<{ accepted: number }>(`${sidecar.ingestUrl}/v1/reports`, items);
  if (answer.status !== 202 || answer.body.accepted !== items.length) throw new Error(`posting the fixture: ${answer.status} ${JSON.stringify(answer.body)}`);
  await eventually(async () => {
    await sidecar.spool.flush();
    const counts = sidecar.spool.counts();
    return counts.accepted === 5 && counts.discarded === 1 ? true : undefined;
  }, 30_000, 50);
  return {
    emulator,
    sidecar,
    now,
    split: now - 10 * HOUR,
    posted,
    async stop() {
      await sidecar.stop();
      await emulator.stop();
    },
  };
}
