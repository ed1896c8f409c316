import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorStats, StoredReport } from '../../src/emulator/emulator.js';
import { eventually, getJson, postJson } from '../helpers/http.js';
import { stopProc } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';
import { startSidecarProcess, twoOrgStack, type Started } from '../helpers/stack.js';

const TOTAL = 20_000;
const SINGLES = 2_000;
const ARRAY_SIZE = 100;
const CONCURRENCY = 16;

describe('end to end: gateway → sidecar process → emulator process', () => {
  let emulator: Started;
  let sidecar: Started;
  let ca: Buffer;
  let spoolPath: string;

  beforeAll(async () => {
    const stack = await twoOrgStack('e2e');
    ({ emulator, ca, spoolPath } = stack);
    sidecar = await startSidecarProcess(stack.env, stack.args);
  });

  afterAll(async () => {
    if (sidecar) await stopProc(sidecar.proc, 'SIGKILL');
    if (emulator) await stopProc(emulator.proc);
  });

  it(`delivers ${TOTAL} reports posted as singles and arrays exactly once, and every row ends ACCEPTED`, async () => {
    const reports = Array.from({ length: TOTAL }, (_, i) => validReport(i));
    const bodies: unknown[] = reports.slice(0, SINGLES);
    for (let i = SINGLES; i < TOTAL; i += ARRAY_SIZE) bodies.push(reports.slice(i, i + ARRAY_SIZE));

    let next = 0;
    let acknowledged = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++];
          const answer = await postJson<{ accepted: number; duplicates: number }>(`${sidecar.url}/v1/reports`, body);
          expect(answer.status).toBe(202);
          expect(answer.body.duplicates).toBe(0);
          acknowledged += answer.body.accepted;
        }
      }),
    );
    expect(acknowledged).toBe(TOTAL);

    const stats = await eventually(async () => {
      const { body } = await getJson<EmulatorStats>(`${emulator.url}/emulator/stats`, ca);
      return (body.reports.ACCEPTED ?? 0) >= TOTAL ? body : undefined;
    }, 120_000, 250);
    expect(stats.reports).toEqual({ ACCEPTED: TOTAL });
    expect(stats.distinctFapiInteractionIds).toBe(TOTAL);
    expect(stats.duplicatesReceived).toBe(0);
    // Both organisations obtained one token each and reused it for every batch.
    expect(stats.tokensIssued).toBe(2);
    // One log line per batch answered, with its lane, size, outcome and duration.
    const batches = sidecar.proc.lines.flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; lane?: string; reports?: number; accepted?: number; discarded?: number; ms?: number };
        return entry.msg === 'batch answered' ? [entry] : [];
      } catch {
        return [];
      }
    });
    expect(batches.length).toBeGreaterThan(0);
    expect(batches.reduce((n, b) => n + (b.accepted ?? 0), 0)).toBe(TOTAL);
    for (const b of batches) expect(b).toMatchObject({ lane: expect.stringMatching(/^private:/), discarded: 0, ms: expect.any(Number) });

    const received = await getJson<{ data: StoredReport[] }>(`${emulator.url}/emulator/reports?_limit=100000`, ca);
    const reportIdByFapi = new Map<string, string>();
    for (const r of received.body.data) {
      const fapi = (r.report as { fapiInteractionId: string }).fapiInteractionId;
      expect(reportIdByFapi.has(fapi)).toBe(false);
      reportIdByFapi.set(fapi, r.reportId);
    }
    expect(reportIdByFapi.size).toBe(TOTAL);

    // A clean stop, then the spool itself: every row ACCEPTED with the reportId the emulator gave it.
    const { code } = await stopProc(sidecar.proc, 'SIGTERM');
    expect(code).toBe(0);
    const db = new Database(spoolPath, { readonly: true });
    try {
      const rows = db.prepare('SELECT fapi_interaction_id AS fapi, state, report_id AS reportId FROM reports').all() as {
        fapi: string;
        state: string;
        reportId: string | null;
      }[];
      expect(rows).toHaveLength(TOTAL);
      for (const row of rows) {
        expect(row.state).toBe('accepted');
        expect(row.reportId).toBe(reportIdByFapi.get(row.fapi));
      }
    } finally {
      db.close();
    }
  });
});
