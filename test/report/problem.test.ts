import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { keepableText, slim } from '../../src/ingest/quarantine-view.js';
import { excerpt, shown } from '../../src/report/problem.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap bytes still used after keeping what `keep` returns for 40 distinct 1 MiB strings. */
function retained(keep: (big: string) => unknown): number {
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept: unknown[] = [];
  for (let i = 0; i < 40; i++) kept.push(keep(`${i}`.padEnd(1 << 20, String.fromCharCode(97 + (i % 26)))));
  gc();
  const after = process.memoryUsage().heapUsed;
  expect(kept).toHaveLength(40);
  return after - before;
}

describe('excerpts of hostile strings', () => {
  it('excerpt() cuts and keeps short strings as they are', () => {
    expect(excerpt('abcdef', 3)).toBe('abc');
    expect(excerpt('abc', 3)).toBe('abc');
    expect(excerpt('a\ud800b', 2)).toBe('a\ud800'); // a lone surrogate survives the copy
  });

  it('a slice keeps its whole string alive (what the copies avoid)', () => {
    expect(retained((big) => big.slice(0, 200))).toBeGreaterThan(30 * (1 << 20));
  });

  it('shown(), slim() and keepableText() keep neither the value nor the body they cut', () => {
    expect(retained((big) => shown(big))).toBeLessThan(4 * (1 << 20));
    expect(retained((big) => slim([{ field: 'endpoint', rule: 'r', message: `bad: ${shown(big)}`, value: big }]))).toBeLessThan(4 * (1 << 20));
    expect(retained((big) => keepableText(big))).toBeLessThan(4 * (1 << 20) + 40 * 64 * 1024 * 2);
    // A short line of a large body is a view of the body too.
    expect(retained((big) => keepableText(big.slice(100, 300)))).toBeLessThan(4 * (1 << 20));
  });
});
