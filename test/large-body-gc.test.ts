import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { LargeBodyGc } from '../src/large-body-gc.js';

/** The collection asked for after large bodies (issue #8: RSS under a storm of them), and only then. */
describe('LargeBodyGc', () => {
  const options = { minBodyBytes: 1000, bytes: 10_000, intervalMs: 1000 };

  it('asks for a major GC once enough large bodies were answered, at most once per interval; small bodies never count', () => {
    let now = 0;
    const gc = new LargeBodyGc(options, () => now);
    for (let i = 0; i < 1000; i++) gc.answered(999);
    expect(gc.collections).toBe(0);
    for (let i = 0; i < 9; i++) gc.answered(1000);
    expect(gc.collections).toBe(0);
    gc.answered(1000);
    // V8's gc() was exposed at run time (no --expose-gc flag on this process) and called …
    expect(gc.collections).toBe(1);
    // … without handing a gc to contexts made later (or to the global).
    expect([runInNewContext('typeof gc'), typeof (globalThis as { gc?: unknown }).gc]).toEqual(['undefined', 'undefined']);
    for (let i = 0; i < 50; i++) gc.answered(1000);
    expect(gc.collections).toBe(1);
    now += 1000;
    gc.answered(1000);
    expect(gc.collections).toBe(2);
    // The count starts again after a collection.
    now += 5000;
    gc.answered(5000);
    expect(gc.collections).toBe(2);
    gc.answered(5000);
    expect(gc.collections).toBe(3);
  });
});
