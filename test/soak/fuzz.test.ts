import { describe, expect, it } from 'vitest';
import { runFuzz } from './fuzz.js';

/**
 * The short form of the fuzz soak (`npm run soak` runs ≥ 100 000 bodies): hostile bodies on every ingest route of a
 * `pcm-sidecar run` process, plus raw-socket framing tricks. No 5xx, an answer (or a close after a 408) within the
 * configured request timeout for every one, valid neighbours of bad items stored, the sidecar healthy afterwards
 * and stopping cleanly.
 */
describe('fuzz soak, short form', () => {
  it('answers every hostile body without a 5xx or a hang', async () => {
    const summary = await runFuzz({
      label: 'ci',
      seed: 8,
      bodies: 3000,
      framingCases: 60,
      requestTimeoutMs: 2000,
      headersTimeoutMs: 1500,
      marginMs: 5000,
    });
    console.log(`fuzz soak (short): ${JSON.stringify(summary)}`);
    expect(summary.bodies).toBe(3000);
    expect(Object.keys(summary.routes).length).toBeGreaterThanOrEqual(5);
    expect(summary.samples.filter((s) => /^(5\d\d|hang)/.test(s))).toEqual([]);
    expect(summary.fiveXx).toBe(0);
    expect(summary.hangs).toBe(0);
    expect(summary.closed).toBe(0);
    expect(summary.neighboursLost).toBe(0);
    expect(summary.unexpectedAnswers).toBe(0);
    expect(summary.framing.cases).toBe(60);
    expect(summary.framing.fiveXx).toBe(0);
    expect(summary.framing.hangs).toBe(0);
    expect(summary.sidecarErrorLogs).toBe(0);
    expect(summary.healthyAfter).toBe(true);
    expect(summary.exitCode).toBe(0);
  });
});
