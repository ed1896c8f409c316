import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorStats } from '../../src/emulator/emulator.js';
import { eventually, getJson, postJson } from '../helpers/http.js';
import { tempDir, testPki } from '../helpers/pki.js';
import { startCli, stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { sidecarEnv, startEmulatorProcess, startSidecarProcess, type StartedEmulator } from '../helpers/stack.js';

const CATALOG = fileURLToPath(new URL('../../data/catalog/endpoints.json', import.meta.url));
const BALANCES = '/open-banking/accounts/v2/accounts/{accountId}/balances';

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const proc = startCli(args, env);
  const { code } = await proc.exited;
  return { code, out: proc.lines.join('\n') };
}

describe('quarantine: nothing a gateway sent vanishes; replay after a catalogue update', () => {
  let emulator: StartedEmulator;
  let env: Record<string, string>;
  let ca: Buffer;

  beforeAll(async () => {
    const dir = await tempDir('quarantine');
    const pki = await testPki(dir);
    ca = await readFile(pki.caCert);
    emulator = await startEmulatorProcess(pki);
    // An older catalogue that does not list the balances endpoint yet.
    const full = JSON.parse(await readFile(CATALOG, 'utf8')) as { version: string; private: { template: string }[] };
    const older = { ...full, version: 'test-older', private: full.private.filter((e) => e.template !== BALANCES) };
    const olderFile = join(dir, 'older-catalog.json');
    await writeFile(olderFile, JSON.stringify(older));
    env = sidecarEnv(pki, emulator, join(dir, 'spool.db'), { PCM_ENDPOINT_CATALOG: olderFile });
  });
  afterAll(async () => stopProc(emulator.proc));

  it('keeps refused items with their errors, lists them, and replays what the new catalogue accepts', async () => {
    const sidecar = await startSidecarProcess(env);
    const balances = { ...validReport(0), endpoint: BALANCES };
    const broken = { ...validReport(2), httpMethod: 'FETCH' };
    const answer = await postJson<{ rejected: number }>(`${sidecar.url}/v1/reports`, [balances, broken, validReport(4)]);
    expect(answer.status).toBe(207);
    expect(answer.body.rejected).toBe(2);
    expect((await stopProc(sidecar.proc)).code).toBe(0);

    const listed = await cli(['quarantine', 'list'], env);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain(`endpoint: Unlisted endpoint: ${BALANCES}`);
    expect(listed.out).toContain("httpMethod: Invalid enum value. Expected 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH', received 'FETCH'");
    expect(listed.out).toContain('2 items in quarantine');

    const updated = { ...env, PCM_ENDPOINT_CATALOG: CATALOG };
    const replay = await cli(['quarantine', 'replay'], updated);
    expect(replay.code).toBe(0);
    expect(replay.out).toContain('examined 2: moved 1 to the spool, 0 already spooled, 1 still failing');
    expect((await cli(['quarantine', 'list'], updated)).out).toContain('1 items in quarantine');

    // The running sidecar sends what replay moved.
    const before = (await getJson<EmulatorStats>(`${emulator.url}/emulator/stats`, ca)).body.reports.ACCEPTED ?? 0;
    const restarted = await startSidecarProcess(updated);
    try {
      await eventually(async () => {
        const stats = (await getJson<EmulatorStats>(`${emulator.url}/emulator/stats`, ca)).body;
        return (stats.reports.ACCEPTED ?? 0) - before >= 1 ? true : undefined;
      }, 30_000);
      const received = await getJson<{ data: unknown[] }>(`${emulator.url}/emulator/reports?fapiInteractionId=${balances.fapiInteractionId as string}`, ca);
      expect(received.body.data).toHaveLength(1);
    } finally {
      expect((await stopProc(restarted.proc)).code).toBe(0);
    }
  });
});
