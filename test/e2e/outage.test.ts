import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EmulatorStats } from '../../src/emulator/emulator.js';
import { eventually, getJson, postJson, postTls } from '../helpers/http.js';
import { tempDir, testPki } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { sidecarEnv, startEmulatorProcess, startSidecarProcess } from '../helpers/stack.js';
import { adminJson } from '../helpers/admin.js';

/**
 * Issue #10: the PCM is down while 50,000 reports arrive, then comes back. Every report reaches it once, the
 * sidecar's memory stays bounded meanwhile (the backlog waits on disk, not in memory), and the catch-up does not
 * earn a single 429 from a PCM that allows 300 requests/s.
 */

const REPORTS = 50_000;
const PER_REQUEST = 500;
/** A bound on the sidecar's resident memory for the whole run: far above its working set, far below "unbounded". */
const RSS_BOUND_MIB = 400;

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return line ? Number(line.split(/\s+/)[1]) / 1024 : 0;
}

describe('outage: 50,000 reports arrive while the PCM is down', () => {
  it('delivers all of them once after it recovers, in bounded memory, without a 429', async () => {
    const dir = await tempDir('outage');
    const pki = await testPki(dir);
    const ca = await readFile(pki.caCert);
    const emulator = await startEmulatorProcess(pki);
    const sidecar = await startSidecarProcess(sidecarEnv(pki, emulator, join(dir, 'spool.db')));
    const pid = sidecar.proc.child.pid as number;
    let peak = rssMiB(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
    try {
      // Down (connections reset) from now until the reports are in; lifted by hand below.
      const now = Date.now();
      const down = { outages: [{ from: new Date(now - 1000).toISOString(), to: new Date(now + 10 * 60_000).toISOString(), mode: 'reset' }] };
      expect((await postTls(`${emulator.url}/emulator/faults`, down, ca, 'PUT')).status).toBe(200);
      const ids: string[] = [];
      for (let sent = 0; sent < REPORTS; sent += PER_REQUEST) {
        const reports = Array.from({ length: PER_REQUEST }, (_, i) => validReport(2 * (sent + i)));
        for (const r of reports) ids.push(r.fapiInteractionId as string);
        const answer = await postJson<{ accepted: number }>(`${sidecar.url}/v1/reports`, reports);
        expect(answer.status).toBe(202);
        expect(answer.body.accepted).toBe(PER_REQUEST);
      }
      const before = (await getJson<EmulatorStats>(`${emulator.url}/emulator/stats`, ca)).body;
      expect(before.reports.ACCEPTED ?? 0).toBe(0);

      expect((await postTls(`${emulator.url}/emulator/faults`, { outages: [] }, ca, 'PUT')).status).toBe(200);
      const stats = await eventually(async () => {
        const s = (await getJson<EmulatorStats>(`${emulator.url}/emulator/stats`, ca)).body;
        return (s.reports.ACCEPTED ?? 0) >= REPORTS ? s : undefined;
      }, 120_000, 250);
      expect(stats.reports.ACCEPTED).toBe(REPORTS);
      expect(stats.distinctFapiInteractionIds).toBe(REPORTS);
      expect(stats.duplicatesReceived).toBe(0);
      const answers = stats.requests['POST /report-api/v1/private/report'] ?? {};
      expect(answers['429'] ?? 0).toBe(0);
      expect(stats.peakRequestsPerSecond).toBeLessThanOrEqual(300);
      const status = (await adminJson<{ spool: { pending: number; inflight: number; accepted: number } }>(`${sidecar.adminUrl}/v1/status`)).body;
      expect(status.spool).toMatchObject({ pending: 0, inflight: 0 });
      expect(peak).toBeLessThan(RSS_BOUND_MIB);
      expect(new Set(ids).size).toBe(REPORTS);
    } finally {
      clearInterval(sampler);
      await stopProc(sidecar.proc);
      await stopProc(emulator.proc);
    }
  }, 240_000);
});
