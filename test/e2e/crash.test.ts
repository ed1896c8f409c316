import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorStats, StoredReport } from '../../src/emulator/emulator.js';
import { eventually, getJson, postJson } from '../helpers/http.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { startSidecarProcess, twoOrgStack, type Started, type StartedSidecar } from '../helpers/stack.js';
import { adminJson } from '../helpers/admin.js';

const BODIES = 160;
const PER_BODY = 50;
const KILL_AFTER_ACKS = [30, 70];
const POSTERS = 4;

describe('crash: SIGKILL while reports are posted and sent, restart on the same spool', () => {
  let emulator: Started;
  let ca: Buffer;
  let spoolPath: string;
  let env: Record<string, string>;
  let args: string[];
  let sidecar: StartedSidecar | null = null;

  beforeAll(async () => {
    ({ emulator, ca, spoolPath, env, args } = await twoOrgStack('crash', {
      PCM_MAX_BATCH_SIZE: '150',
      PCM_MAX_BATCH_DELAY_MS: '5',
      PCM_MAX_CONCURRENT_BATCHES: '4',
    }));
  });

  afterAll(async () => {
    if (sidecar) await stopProc(sidecar.proc, 'SIGKILL');
    if (emulator) await stopProc(emulator.proc);
  });

  it('delivers every acknowledged report; duplicates come only from rows that were in flight', async () => {
    const bodies = Array.from({ length: BODIES }, (_, b) => Array.from({ length: PER_BODY }, (_, i) => validReport(b * PER_BODY + i)));
    const acked = new Set<number>();
    let recovered = 0;

    // Each round posts what is not acknowledged yet (as a gateway retries), killing the sidecar mid-stream.
    for (let round = 0; round <= KILL_AFTER_ACKS.length; round++) {
      sidecar = await startSidecarProcess(env, args);
      const status = await adminJson<{ spool: { recoveredInflight: number } }>(`${sidecar.adminUrl}/v1/status`);
      recovered += status.body.spool.recoveredInflight;
      const killAt = KILL_AFTER_ACKS[round];
      const queue = [...Array(BODIES).keys()].filter((b) => !acked.has(b));
      let killed = false;
      const current = sidecar;
      await Promise.all(
        Array.from({ length: POSTERS }, async () => {
          while (queue.length > 0 && !killed) {
            const b = queue.shift()!;
            try {
              const answer = await postJson(`${current.url}/v1/reports`, bodies[b]);
              if (answer.status === 202) acked.add(b);
            } catch {
              // Connection reset or refused by the killed process: not acknowledged, posted again next round.
            }
            if (killAt !== undefined && acked.size >= killAt && !killed) {
              killed = true;
              current.proc.child.kill('SIGKILL');
            }
          }
        }),
      );
      if (killAt !== undefined) {
        const exit = await current.proc.exited;
        expect(exit.signal).toBe('SIGKILL');
      }
    }
    expect(acked.size).toBe(BODIES);

    const ackedIds = new Set([...acked].flatMap((b) => bodies[b]!.map((r) => r.fapiInteractionId as string)));
    const received = await eventually(async () => {
      const { body } = await getJson<{ data: StoredReport[] }>(`${emulator.url}/emulator/reports?_limit=100000`, ca);
      const ids = new Set(body.data.map((r) => (r.report as { fapiInteractionId: string }).fapiInteractionId));
      return [...ackedIds].every((id) => ids.has(id)) ? body.data : undefined;
    }, 120_000, 250);

    const copies = new Map<string, number>();
    for (const r of received) {
      const id = (r.report as { fapiInteractionId: string }).fapiInteractionId;
      copies.set(id, (copies.get(id) ?? 0) + 1);
    }
    const duplicated = [...copies].filter(([, n]) => n > 1).map(([id]) => id);
    const stats = (await getJson<EmulatorStats>(`${emulator.url}/emulator/stats`, ca)).body;
    expect(stats.duplicatesReceived).toBe(duplicated.length);
    expect(stats.reports.DISCARDED ?? 0).toBe(0);

    const { code } = await stopProc(sidecar!.proc, 'SIGTERM');
    sidecar = null;
    expect(code).toBe(0);
    const db = new Database(spoolPath, { readonly: true });
    try {
      const states = db.prepare('SELECT state, count(*) AS n FROM reports GROUP BY state').all();
      expect(states).toEqual([{ state: 'accepted', n: ackedIds.size }]);
      // A row sent twice was leased twice: it was in flight when the process died.
      const resent = new Set(
        (db.prepare('SELECT fapi_interaction_id AS id FROM reports WHERE resent').all() as { id: string }[]).map((r) => r.id),
      );
      for (const id of duplicated) expect(resent.has(id)).toBe(true);
      expect(duplicated.length).toBeLessThanOrEqual(recovered);
    } finally {
      db.close();
    }
    console.log(`crash test: recovered in-flight rows ${recovered}, duplicates at the emulator ${duplicated.length}`);
    // The sidecar counted what it re-sent after each crash.
    expect(recovered).toBeGreaterThanOrEqual(duplicated.length);
  });
});
