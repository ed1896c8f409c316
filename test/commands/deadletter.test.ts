import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, getJson, postJson, postTls } from '../helpers/http.js';
import { tempDir, testPki } from '../helpers/pki.js';
import { startCli, stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { sidecarEnv, startEmulatorProcess, startSidecarProcess, type StartedEmulator } from '../helpers/stack.js';
import { adminJson } from '../helpers/admin.js';

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const proc = startCli(args, env);
  const { code } = await proc.exited;
  return { code, out: proc.lines.join('\n') };
}

interface Listed {
  id: number;
  reason: string;
  message: string;
  replayedAt: number | null;
  body: { fapiInteractionId: string };
}

describe('deadletter: list what will not be sent again, replay it after the cause is fixed, next to a running sidecar', () => {
  let emulator: StartedEmulator;
  let env: Record<string, string>;
  let ca: Buffer;

  beforeAll(async () => {
    const dir = await tempDir('deadletter');
    const pki = await testPki(dir);
    ca = await readFile(pki.caCert);
    emulator = await startEmulatorProcess(pki);
    // One report per batch, isolated at its first refusal: each queued 422 makes exactly one dead letter.
    env = sidecarEnv(pki, emulator, join(dir, 'spool.db'), { PCM_MAX_BATCH_SIZE: '1', PCM_MAX_REFUSALS: '1' });
  });
  afterAll(async () => stopProc(emulator.proc));

  it('lists refused reports with reason and message, filters them, and replays them once', async () => {
    const sidecar = await startSidecarProcess(env);
    try {
      expect((await postTls(`${emulator.url}/emulator/faults`, { status: 422, count: 2 }, ca)).status).toBe(200);
      const reports = [validReport(0), validReport(2)];
      expect((await postJson(`${sidecar.url}/v1/reports`, reports)).status).toBe(202);
      await eventually(async () => {
        const status = (await adminJson<{ spool: { discarded: number; pending: number; inflight: number } }>(`${sidecar.adminUrl}/v1/status`)).body;
        return status.spool.discarded === 2 && status.spool.pending + status.spool.inflight === 0 ? true : undefined;
      }, 30_000);

      const listed = await cli(['deadletter', 'list', '--json'], env);
      expect(listed.code).toBe(0);
      const letters = listed.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Listed);
      expect(letters.map((l) => l.reason)).toEqual(['refused', 'refused']);
      expect(letters.map((l) => l.body.fapiInteractionId).sort()).toEqual(reports.map((r) => r.fapiInteractionId as string).sort());
      for (const l of letters) expect(l.message).toMatch(/^Refused by the PCM, not sent again: report API answered 422/);
      expect((await cli(['deadletter', 'list'], env)).out).toContain('2 dead letters listed');
      expect((await cli(['deadletter', 'list', '--reason', 'too-old'], env)).out).toContain('0 dead letters listed');
      expect((await cli(['deadletter', 'list', '--since', new Date(Date.now() + 60_000).toISOString()], env)).out).toContain('0 dead letters listed');
      expect((await cli(['deadletter', 'list', '--reason', 'lost'], env)).code).toBe(64);
      expect((await cli(['deadletter', 'list', '--since', 'yesterday'], env)).code).toBe(64);

      // The cause is gone (the 422s were used up): replay while the sidecar runs; it sends what replay stored.
      const replay = await cli(['deadletter', 'replay', '--reason', 'refused'], env);
      expect(replay.code).toBe(0);
      expect(replay.out).toContain('examined 2: stored 2 again, 0 already stored, 0 still refused by validation');
      await eventually(async () => {
        const counts = await Promise.all(
          reports.map(async (r) => (await getJson<{ data: unknown[] }>(`${emulator.url}/emulator/reports?fapiInteractionId=${r.fapiInteractionId as string}`, ca)).body.data.length),
        );
        return counts.every((n) => n === 1) ? true : undefined;
      }, 30_000);

      // Replayed once: a second replay finds nothing, and the list says when.
      expect((await cli(['deadletter', 'replay'], env)).out).toContain('examined 0: stored 0 again');
      expect((await cli(['deadletter', 'list'], env)).out).toMatch(/refused .* \[replayed \d{4}-/);
    } finally {
      expect((await stopProc(sidecar.proc)).code).toBe(0);
    }
  });
});
