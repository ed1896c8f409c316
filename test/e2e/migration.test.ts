import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorStats, StoredReport } from '../../src/emulator/emulator.js';
import { eventually, getJson } from '../helpers/http.js';
import { CLIENT_ORG, SERVER_ORG } from '../helpers/pki.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { startSidecarProcess, twoOrgStack, type Started, type TwoOrgStack } from '../helpers/stack.js';
import { V2_DDL } from '../helpers/spool-v2.js';

/**
 * An upgrade in place: a spool file written by schema version 2 (pending, in-flight, accepted and discarded rows)
 * is opened by today's sidecar process, which migrates it and delivers every undelivered report once.
 */
const ROWS = 600;
const STATES = ['pending', 'inflight', 'accepted', 'discarded', 'pending', 'pending'] as const;

describe('migration: a version-2 spool under a running sidecar', () => {
  let stack: TwoOrgStack;
  let sidecar: Started | null = null;

  beforeAll(async () => {
    stack = await twoOrgStack('migration');
  });
  afterAll(async () => {
    if (sidecar) await stopProc(sidecar.proc, 'SIGKILL');
    await stopProc(stack.emulator.proc);
  });

  it('delivers the pending and in-flight reports of the old file exactly once, and none of the delivered ones', async () => {
    const db = new Database(stack.spoolPath);
    db.exec(V2_DDL);
    const insert = db.prepare(
      `INSERT INTO reports (stream, org_id, lane, dedup_key, fapi_interaction_id, body, bytes, state, created_at, updated_at, pcm_message)
       VALUES ('private', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const expected = new Set<string>();
    const delivered = new Set<string>();
    for (let i = 0; i < ROWS; i++) {
      const report = validReport(i);
      const org = report.role === 'CLIENT' ? CLIENT_ORG : SERVER_ORG;
      const state = STATES[i % STATES.length]!;
      const body = JSON.stringify(report);
      const fapi = report.fapiInteractionId as string;
      (state === 'pending' || state === 'inflight' ? expected : delivered).add(fapi);
      const key = createHash('sha256').update(`k${i}`).digest().subarray(0, 16);
      insert.run(org, `private:${org}`, key, fapi, body, Buffer.byteLength(body), state, Date.now(), Date.now(), state === 'discarded' ? 'Unlisted endpoint' : null);
    }
    db.pragma('user_version = 2');
    db.close();

    sidecar = await startSidecarProcess(stack.env, stack.args);
    const received = await eventually(async () => {
      const { body } = await getJson<{ data: StoredReport[] }>(`${stack.emulator.url}/emulator/reports?_limit=100000`, stack.ca);
      const seen = new Set(body.data.map((r) => (r.report as { fapiInteractionId: string }).fapiInteractionId));
      return [...expected].every((id) => seen.has(id)) ? body.data : undefined;
    }, 60_000, 200);
    const ids = received.map((r) => (r.report as { fapiInteractionId: string }).fapiInteractionId);
    expect(ids.filter((id) => delivered.has(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(expected.size);
    const stats = (await getJson<EmulatorStats>(`${stack.emulator.url}/emulator/stats`, stack.ca)).body;
    expect(stats.duplicatesReceived).toBe(0);
    expect((await stopProc(sidecar.proc)).code).toBe(0);
    sidecar = null;

    const after = new Database(stack.spoolPath, { readonly: true });
    try {
      const states = after.prepare('SELECT state, count(*) AS n FROM reports GROUP BY state ORDER BY state').all();
      const discarded = [...Array(ROWS).keys()].filter((i) => STATES[i % STATES.length] === 'discarded').length;
      expect(states).toEqual([
        { state: 'accepted', n: expected.size },
        { state: 'discarded', n: discarded },
      ]);
    } finally {
      after.close();
    }
  });
});
