import Database from 'better-sqlite3';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorStats, StoredReport } from '../../src/emulator/emulator.js';
import { eventually, getJson, postJson } from '../helpers/http.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { startSidecarProcess, twoOrgStack, type Started, type TwoOrgStack } from '../helpers/stack.js';

/**
 * Conservation under faults (reliability-lessons.md, test 1): the far end fails at random — 5xx, 429, resets,
 * hangs, latency — and the sidecar is killed with SIGKILL twice; every report answered 202 arrives.
 */
const BODIES = 120;
const PER_BODY = 25;
const FAULTS = {
  seed: 11,
  latencyMs: 5,
  latencyJitterMs: 20,
  errorRates: { '503': 0.15, '500': 0.05, '429': 0.1 },
  retryAfterSeconds: 0,
  resetRate: 0.05,
  hangRate: 0.03,
};

describe('conservation: random PCM faults and SIGKILLs lose nothing that was acknowledged', () => {
  let stack: TwoOrgStack;
  let sidecar: Started | null = null;

  beforeAll(async () => {
    stack = await twoOrgStack(
      'conservation',
      {
        PCM_MAX_BATCH_SIZE: '100',
        PCM_MAX_BATCH_DELAY_MS: '10',
        PCM_MAX_CONCURRENT_BATCHES: '3',
        PCM_EXPORT_TIMEOUT_MS: '1000',
        PCM_RETRY_INITIAL_DELAY_MS: '20',
        PCM_RETRY_MAX_DELAY_MS: '200',
      },
      async (dir) => {
        const faults = join(dir, 'faults.json');
        await writeFile(faults, JSON.stringify(FAULTS));
        return ['--faults', faults, '--rate-limit', '100000'];
      },
    );
  });
  afterAll(async () => {
    if (sidecar) await stopProc(sidecar.proc, 'SIGKILL');
    await stopProc(stack.emulator.proc);
  });

  it('every acknowledged report reaches the emulator; duplicates only from rows re-sent after a crash', async () => {
    const { emulator, ca } = stack;
    const bodies = Array.from({ length: BODIES }, (_, b) => Array.from({ length: PER_BODY }, (_, i) => validReport(b * PER_BODY + i)));
    const acked = new Set<number>();
    for (const killAfter of [40, 80, undefined]) {
      sidecar = await startSidecarProcess(stack.env, stack.args);
      const current = sidecar;
      for (let b = 0; b < BODIES; b++) {
        if (acked.has(b)) continue;
        try {
          if ((await postJson(`${current.url}/v1/reports`, bodies[b])).status === 202) acked.add(b);
        } catch {
          // not acknowledged: posted again in the next round
        }
        if (killAfter !== undefined && acked.size >= killAfter) {
          current.proc.child.kill('SIGKILL');
          await current.proc.exited;
          break;
        }
      }
    }
    expect(acked.size).toBe(BODIES);

    const ids = [...acked].flatMap((b) => bodies[b]!.map((r) => r.fapiInteractionId as string));
    const received = await eventually(async () => {
      const { body } = await getJson<{ data: StoredReport[] }>(`${emulator.url}/emulator/reports?_limit=100000`, ca);
      const seen = new Set(body.data.map((r) => (r.report as { fapiInteractionId: string }).fapiInteractionId));
      return ids.every((id) => seen.has(id)) ? body.data : undefined;
    }, 180_000, 500);
    expect(received.every((r) => r.status !== 'DISCARDED')).toBe(true);

    const stats = (await getJson<EmulatorStats>(`${emulator.url}/emulator/stats`, ca)).body;
    const answers = stats.requests['POST /report-api/v1/private/report'] ?? {};
    // The faults did happen: some requests were refused, reset or left hanging.
    expect(Object.keys(answers).filter((code) => code !== '200').length).toBeGreaterThan(0);
    console.log(`conservation: ${ids.length} reports, emulator answers ${JSON.stringify(answers)}, duplicates ${stats.duplicatesReceived}`);
    expect((await stopProc(sidecar!.proc)).code).toBe(0);
    sidecar = null;

    // Injected faults answer before the emulator reads a report, so only rows leased twice (after a SIGKILL) repeat.
    const copies = new Map<string, number>();
    for (const r of received) {
      const id = (r.report as { fapiInteractionId: string }).fapiInteractionId;
      copies.set(id, (copies.get(id) ?? 0) + 1);
    }
    const db = new Database(stack.spoolPath, { readonly: true });
    try {
      const releasedOrRecovered = new Set(
        (db.prepare('SELECT fapi_interaction_id AS id FROM reports WHERE resent').all() as { id: string }[]).map((r) => r.id),
      );
      for (const [id, n] of copies) if (n > 1) expect(releasedOrRecovered.has(id)).toBe(true);
    } finally {
      db.close();
    }
  });
});
