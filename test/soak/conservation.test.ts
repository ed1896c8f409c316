import { describe, expect, it } from 'vitest';
import { FAULT_PHASES, runConservation } from './conservation.js';

/**
 * The short form of the conservation soak (`npm run soak` runs the long one): SIGKILLs of `pcm-sidecar run` at
 * random moments, some during its start, each kill cycle under one emulator fault phase — PCM outages, 429 storms,
 * slow answers, the token host down, a mix — taken in turn so every phase occurs. Nothing acknowledged is lost;
 * whatever arrives twice was in flight at a kill.
 */
describe('conservation soak, short form', () => {
  it('loses no acknowledged report across SIGKILLs and PCM faults', async () => {
    const summary = await runConservation({
      label: 'ci',
      seed: 20_261_122,
      killCycles: 12,
      checkpointEvery: 6,
      bodiesPerCycle: 30,
      reportsPerBody: 40,
      killAfterMs: [200, 1500],
      startupKillRate: 0.3,
      phases: FAULT_PHASES,
      phaseOrder: 'cycle',
      drainTimeoutMs: 90_000,
    });
    console.log(`conservation soak (short): ${JSON.stringify(summary)}`);
    expect(summary.killCycles).toBe(12);
    expect(summary.acknowledged).toBeGreaterThan(0);
    expect(summary.neverAcknowledged).toBe(0);
    expect(summary.lostSample).toEqual([]);
    expect(summary.lost).toBe(0);
    expect(summary.duplicatesNotInFlight).toBe(0);
    expect(summary.discarded).toBe(0);
    expect(summary.partialAnswers).toBe(0);
    expect(summary.unexpectedExits).toEqual([]);
    // The faults did happen: the emulator refused, reset or left hanging some report requests, and the token host failed.
    expect(Object.keys(summary.emulatorAnswers).filter((status) => status !== '200').length).toBeGreaterThan(0);
    expect(Object.keys(summary.tokenAnswers).filter((status) => status !== '200').length).toBeGreaterThan(0);
  });
});
