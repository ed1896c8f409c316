import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultError, FaultInjector, faultConfigSchema, loadFaultFile, parseFaultConfig, type FaultConfig, type FaultDecision } from '../../src/emulator/faults.js';

/** A random that returns exactly these values, then fails: a test sees every draw the injector makes. */
function scripted(...values: number[]): () => number {
  let next = 0;
  return () => {
    const value = values[next++];
    if (value === undefined) throw new Error(`unexpected random draw #${next}`);
    return value;
  };
}

const noDraws = scripted();
const config = (input: unknown): FaultConfig => parseFaultConfig(input, 'test');

function tally(injector: FaultInjector, n: number, decide: (i: number) => FaultDecision): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const d = decide(i);
    const key = d.kind === 'status' ? String(d.status) : d.kind;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

function expectFaultError(fn: () => unknown, ...fragments: string[]): FaultError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FaultError);
  const err = caught as FaultError;
  expect(err.code).toBe('PCM_EMULATOR_FAULTS_INVALID');
  for (const fragment of fragments) expect(err.message).toContain(fragment);
  return err;
}

describe('fault configuration', () => {
  it('fills every default from {}', () => {
    expect(config({})).toEqual({
      latencyMs: 0,
      latencyJitterMs: 0,
      errorRates: {},
      retryAfterSeconds: null,
      hangRate: 0,
      resetRate: 0,
      outages: [],
      token: { errorRate: 0, status: 503, hangRate: 0, latencyMs: 0 },
    });
    expect(config({ token: { errorRate: 0.5 } }).token).toEqual({ errorRate: 0.5, status: 503, hangRate: 0, latencyMs: 0 });
    expect(config({ outages: [{ from: '2025-01-01T00:00:00Z', to: '2025-01-01T01:00:00Z' }] }).outages).toEqual([
      { from: '2025-01-01T00:00:00Z', to: '2025-01-01T01:00:00Z', mode: 'status', status: 503 },
    ]);
  });

  it('refuses error rates that add up to more than 1, and accepts a float sum of exactly 1', () => {
    const err = expectFaultError(() => parseFaultConfig({ errorRates: { '500': 0.6, '503': 0.5 } }, 'POST /emulator/faults'), 'POST /emulator/faults', 'errorRates', 'at most 1', '1.1');
    expect(err.origin).toBe('POST /emulator/faults');
    expect(sumOf(config({ errorRates: { '429': 0.1, '500': 0.2, '503': 0.7 } }).errorRates)).toBeCloseTo(1);
  });

  it.each([
    [{ latencyMs: -1 }, 'latencyMs'],
    [{ latencyJitterMs: -5 }, 'latencyJitterMs'],
    [{ errorRates: { '418': 0.1 } }, 'errorRates'],
    [{ errorRates: { '503': 1.5 } }, 'errorRates.503'],
    [{ retryAfterSeconds: -1 }, 'retryAfterSeconds'],
    [{ hangRate: 2 }, 'hangRate'],
    [{ resetRate: -0.1 }, 'resetRate'],
    [{ outages: [{ from: '2025-01-01T01:00:00Z', to: '2025-01-01T01:00:00Z' }] }, 'outages[0].to'],
    [{ outages: [{ from: '2025-01-01T00:00:00', to: '2025-01-01T01:00:00Z' }] }, 'outages[0].from'],
    [{ outages: [{ from: '2025-01-01T00:00:00Z', to: '2025-01-01T01:00:00Z', status: 404 }] }, 'outages[0].status'],
    [{ outages: [{ from: '2025-01-01T00:00:00Z', to: '2025-01-01T01:00:00Z', mode: 'drop' }] }, 'outages[0].mode'],
    [{ maxItems: 0 }, 'maxItems'],
    [{ maxBodyBytes: 1.5 }, 'maxBodyBytes'],
    [{ token: { status: 302 } }, 'token.status'],
    [{ token: { errorRate: 1.01 } }, 'token.errorRate'],
    [{ token: { retries: 1 } }, 'token'],
    [{ seed: 0.5 }, 'seed'],
    [{ hangrate: 0.1 }, 'hangrate'],
  ])('refuses %j, naming %s', (input, path) => {
    expectFaultError(() => config(input), 'fault configuration test', `${path}`);
  });
});

function sumOf(rates: Partial<Record<string, number>>): number {
  return Object.values(rates).reduce<number>((a, b) => a + (b ?? 0), 0);
}

describe('loadFaultFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcm-faults-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads a valid file', () => {
    const file = write('ok.json', JSON.stringify({ errorRates: { '503': 0.25 }, retryAfterSeconds: 2, seed: 7 }));
    expect(loadFaultFile(file)).toMatchObject({ errorRates: { '503': 0.25 }, retryAfterSeconds: 2, seed: 7, hangRate: 0 });
  });

  it('names the file and the field that is wrong', () => {
    const file = write('bad-field.json', JSON.stringify({ token: { errorRate: 3 }, outages: [{ from: '2025-01-02T00:00:00Z', to: '2025-01-01T00:00:00Z' }] }));
    const err = expectFaultError(() => loadFaultFile(file), file, 'token.errorRate', 'outages[0].to', 'after');
    expect(err.origin).toBe(file);
  });

  it('names the file when it is missing or not JSON', () => {
    const missing = join(dir, 'missing.json');
    expectFaultError(() => loadFaultFile(missing), missing, 'cannot read');
    const broken = write('broken.json', '{ "hangRate": ');
    expectFaultError(() => loadFaultFile(broken), broken, 'not valid JSON');
  });
});

describe('FaultInjector.decideReport', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');

  it('passes with no faults configured, drawing nothing', () => {
    const injector = new FaultInjector(config({}), noDraws);
    expect(injector.decideReport(now)).toEqual({ kind: 'pass', latencyMs: 0 });
    expect(new FaultInjector().decideReport(now)).toEqual({ kind: 'pass', latencyMs: 0 });
  });

  it('adds latencyMs plus uniform jitter', () => {
    expect(new FaultInjector(config({ latencyMs: 100 }), noDraws).decideReport(now)).toEqual({ kind: 'pass', latencyMs: 100 });
    const jittered = new FaultInjector(config({ latencyMs: 100, latencyJitterMs: 50 }), scripted(0, 0.5, 0.999));
    expect([0, 1, 2].map(() => jittered.decideReport(now))).toEqual([
      { kind: 'pass', latencyMs: 100 },
      { kind: 'pass', latencyMs: 125 },
      { kind: 'pass', latencyMs: 100 + 0.999 * 50 },
    ]);
  });

  it('hangs below hangRate, resets below resetRate, hang checked first', () => {
    const hang = new FaultInjector(config({ hangRate: 0.1 }), scripted(0.09, 0.1));
    expect(hang.decideReport(now)).toEqual({ kind: 'hang', reason: 'hangRate' });
    expect(hang.decideReport(now)).toEqual({ kind: 'pass', latencyMs: 0 });

    const both = new FaultInjector(config({ hangRate: 0.5, resetRate: 0.5 }), scripted(0.2, 0.7, 0.2, 0.7, 0.7));
    expect(both.decideReport(now)).toEqual({ kind: 'hang', reason: 'hangRate' });
    expect(both.decideReport(now)).toEqual({ kind: 'reset', reason: 'resetRate' });
    expect(both.decideReport(now)).toEqual({ kind: 'pass', latencyMs: 0 });
  });

  it('splits one draw across the error rates in status order, with latency on the injected status', () => {
    const injector = new FaultInjector(
      config({ errorRates: { '503': 0.2, '429': 0.1 }, latencyMs: 10, latencyJitterMs: 10 }),
      scripted(0.05, 0.5, 0.15, 0, 0.31, 0),
    );
    expect(injector.decideReport(now)).toEqual({ kind: 'status', status: 429, retryAfterSeconds: null, latencyMs: 15, reason: 'errorRates.429' });
    expect(injector.decideReport(now)).toMatchObject({ kind: 'status', status: 503, latencyMs: 10, reason: 'errorRates.503' });
    expect(injector.decideReport(now)).toEqual({ kind: 'pass', latencyMs: 10 });
  });

  it('sends retryAfterSeconds with injected 429 and 503 only', () => {
    const rates = { '429': 0.2, '500': 0.2, '502': 0.2, '503': 0.2, '504': 0.2 };
    const injector = new FaultInjector(config({ errorRates: rates, retryAfterSeconds: 3 }), scripted(0.1, 0.3, 0.5, 0.7, 0.9));
    const answers = [0, 1, 2, 3, 4].map(() => injector.decideReport(now));
    expect(answers.map((d) => (d.kind === 'status' ? [d.status, d.retryAfterSeconds] : d.kind))).toEqual([
      [429, 3],
      [500, null],
      [502, null],
      [503, 3],
      [504, null],
    ]);
    const noHeader = new FaultInjector(config({ errorRates: { '503': 1 } }), scripted(0.5));
    expect(noHeader.decideReport(now)).toMatchObject({ status: 503, retryAfterSeconds: null });
  });

  it('gives about the configured share of 503s over 4000 seeded decisions, the same each run', () => {
    const seeded = (): FaultInjector => new FaultInjector(config({ errorRates: { '503': 0.25 }, seed: 42 }));
    const injector = seeded();
    const counts = tally(injector, 4000, () => injector.decideReport(now));
    const share = (counts.get('503') ?? 0) / 4000;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
    expect((counts.get('503') ?? 0) + (counts.get('pass') ?? 0)).toBe(4000);

    const first = seeded();
    const second = seeded();
    const a = Array.from({ length: 200 }, () => first.decideReport(now).kind);
    const b = Array.from({ length: 200 }, () => second.decideReport(now).kind);
    expect(a).toEqual(b);
  });

  it('gives about the configured shares of hangs, resets and errors together (seeded)', () => {
    const injector = new FaultInjector(config({ hangRate: 0.1, resetRate: 0.1, errorRates: { '500': 0.2, '429': 0.1 }, seed: 7 }));
    const counts = tally(injector, 4000, () => injector.decideReport(now));
    const share = (key: string): number => (counts.get(key) ?? 0) / 4000;
    // Each stage applies to what the previous ones left: reset 0.9 × 0.1, errors 0.81 × rate.
    expect(share('hang')).toBeGreaterThan(0.08);
    expect(share('hang')).toBeLessThan(0.12);
    expect(share('reset')).toBeGreaterThan(0.07);
    expect(share('reset')).toBeLessThan(0.11);
    expect(share('500')).toBeGreaterThan(0.13);
    expect(share('500')).toBeLessThan(0.19);
    expect(share('429')).toBeGreaterThan(0.06);
    expect(share('429')).toBeLessThan(0.1);
  });

  describe('outage windows', () => {
    const from = '2025-06-01T12:00:00Z';
    const to = '2025-06-01T13:00:00Z';
    const start = Date.parse(from);
    const end = Date.parse(to);

    it('apply while now ∈ [from, to), and not outside', () => {
      const injector = new FaultInjector(config({ outages: [{ from, to }], retryAfterSeconds: 30 }), noDraws);
      const outage = { kind: 'status', status: 503, retryAfterSeconds: 30, latencyMs: 0, reason: `outage ${from}..${to}` };
      expect(injector.decideReport(start)).toEqual(outage);
      expect(injector.decideReport(end - 1)).toEqual(outage);
      expect(injector.decideReport(start - 1)).toEqual({ kind: 'pass', latencyMs: 0 });
      expect(injector.decideReport(end)).toEqual({ kind: 'pass', latencyMs: 0 });
    });

    it('hang, reset, or answer their own status (Retry-After only for 429/503)', () => {
      const injector = new FaultInjector(
        config({
          retryAfterSeconds: 5,
          outages: [
            { from: '2025-06-01T00:00:00Z', to: '2025-06-01T01:00:00Z', mode: 'hang' },
            { from: '2025-06-01T01:00:00Z', to: '2025-06-01T02:00:00Z', mode: 'reset' },
            { from: '2025-06-01T02:00:00Z', to: '2025-06-01T03:00:00Z', status: 500 },
            { from: '2025-06-01T03:00:00+00:00', to: '2025-06-01T04:00:00+00:00', status: 429 },
          ],
        }),
        noDraws,
      );
      const at = (hour: number): FaultDecision => injector.decideReport(Date.parse('2025-06-01T00:30:00Z') + hour * 3_600_000);
      expect(at(0)).toMatchObject({ kind: 'hang' });
      expect(at(1)).toMatchObject({ kind: 'reset' });
      expect(at(2)).toMatchObject({ kind: 'status', status: 500, retryAfterSeconds: null });
      expect(at(3)).toMatchObject({ kind: 'status', status: 429, retryAfterSeconds: 5 });
      expect(at(4)).toEqual({ kind: 'pass', latencyMs: 0 });
    });

    it('win over queued faults and rates, without using up the queue', () => {
      const injector = new FaultInjector(config({ outages: [{ from, to, mode: 'reset' }], hangRate: 1 }), scripted(0));
      injector.enqueue(500, 1, null);
      expect(injector.decideReport(start)).toMatchObject({ kind: 'reset' });
      expect(injector.decideReport(end)).toMatchObject({ kind: 'status', status: 500, reason: 'queued' });
      expect(injector.decideReport(end)).toEqual({ kind: 'hang', reason: 'hangRate' });
    });
  });

  describe('queued faults', () => {
    it('come before every rate, in order, and run out', () => {
      const injector = new FaultInjector(config({ hangRate: 0.5 }), scripted(0.9, 0.1));
      injector.enqueue(429, 2, 7);
      injector.enqueue(502, 1, null);
      expect(injector.decideReport(now)).toEqual({ kind: 'status', status: 429, retryAfterSeconds: 7, latencyMs: 0, reason: 'queued' });
      expect(injector.decideReport(now)).toMatchObject({ status: 429, retryAfterSeconds: 7 });
      expect(injector.decideReport(now)).toMatchObject({ status: 502, retryAfterSeconds: null });
      expect(injector.decideReport(now)).toEqual({ kind: 'pass', latencyMs: 0 });
      expect(injector.decideReport(now)).toEqual({ kind: 'hang', reason: 'hangRate' });
    });

    it('send Retry-After as given, and survive configure()', () => {
      const injector = new FaultInjector(config({}), noDraws);
      injector.enqueue(500, 1, 4);
      injector.enqueue(503, 0, 4);
      injector.configure(config({ latencyMs: 20 }));
      expect(injector.decideReport(now)).toEqual({ kind: 'status', status: 500, retryAfterSeconds: 4, latencyMs: 20, reason: 'queued' });
      expect(injector.decideReport(now)).toEqual({ kind: 'pass', latencyMs: 20 });
    });

    it('refuse a status or count that makes no sense', () => {
      const injector = new FaultInjector();
      expect(() => injector.enqueue(99, 1, null)).toThrow(RangeError);
      expect(() => injector.enqueue(503.5, 1, null)).toThrow(RangeError);
      expect(() => injector.enqueue(503, -1, null)).toThrow(RangeError);
      expect(() => injector.enqueue(503, 1.5, null)).toThrow(RangeError);
    });
  });
});

describe('FaultInjector.decideToken', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');

  it('hangs, answers token.status, or passes, with token.latencyMs; report knobs do not apply', () => {
    const injector = new FaultInjector(
      config({ token: { hangRate: 0.1, errorRate: 0.5, status: 500, latencyMs: 40 }, hangRate: 1, latencyMs: 999, outages: [{ from: '2025-06-01T00:00:00Z', to: '2025-06-02T00:00:00Z' }] }),
      scripted(0.05, 0.5, 0.2, 0.5, 0.5),
    );
    expect(injector.decideToken(now)).toEqual({ kind: 'hang', reason: 'token.hangRate' });
    expect(injector.decideToken(now)).toEqual({ kind: 'status', status: 500, retryAfterSeconds: null, latencyMs: 40, reason: 'token.errorRate' });
    expect(injector.decideToken(now)).toEqual({ kind: 'pass', latencyMs: 40 });
  });

  it('passes by default, drawing nothing, and sends Retry-After with a token 503', () => {
    expect(new FaultInjector(config({}), noDraws).decideToken(now)).toEqual({ kind: 'pass', latencyMs: 0 });
    const injector = new FaultInjector(config({ token: { errorRate: 1 }, retryAfterSeconds: 9 }), scripted(0.5));
    expect(injector.decideToken(now)).toMatchObject({ kind: 'status', status: 503, retryAfterSeconds: 9 });
  });

  it('gives about token.errorRate failures over 4000 seeded decisions', () => {
    const injector = new FaultInjector(config({ token: { errorRate: 0.25 }, seed: 1 }));
    const share = (tally(injector, 4000, () => injector.decideToken(now)).get('503') ?? 0) / 4000;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
  });
});

describe('FaultInjector limits and run-time configuration', () => {
  it('falls back to the PCM limits and only ever lowers them', () => {
    const plain = new FaultInjector();
    expect(plain.maxItems(5000)).toBe(5000);
    expect(plain.maxBodyBytes(10 * 1024 * 1024)).toBe(10 * 1024 * 1024);
    const lowered = new FaultInjector(config({ maxItems: 10, maxBodyBytes: 2048 }));
    expect(lowered.maxItems(5000)).toBe(10);
    expect(lowered.maxBodyBytes(10 * 1024 * 1024)).toBe(2048);
    const higher = new FaultInjector(config({ maxItems: 9000, maxBodyBytes: 20 * 1024 * 1024 }));
    expect(higher.maxItems(5000)).toBe(5000);
    expect(higher.maxBodyBytes(10 * 1024 * 1024)).toBe(10 * 1024 * 1024);
  });

  it('configure() replaces the configuration; current() returns it', () => {
    const injector = new FaultInjector(config({}), scripted(0.3));
    const next = config({ errorRates: { '500': 0.5 }, maxItems: 3 });
    injector.configure(next);
    expect(injector.current()).toBe(next);
    expect(injector.maxItems(5000)).toBe(3);
    // The injected stub is still the source of draws after configure().
    expect(injector.decideReport(0)).toMatchObject({ kind: 'status', status: 500 });
  });

  it('configure() with a seed restarts that seed’s sequence', () => {
    const seeded = config({ errorRates: { '503': 0.5 }, seed: 123 });
    const injector = new FaultInjector(seeded);
    const first = Array.from({ length: 50 }, () => injector.decideReport(0).kind);
    injector.configure(faultConfigSchema.parse({ errorRates: { '503': 0.5 }, seed: 123 }));
    const again = Array.from({ length: 50 }, () => injector.decideReport(0).kind);
    expect(again).toEqual(first);
    expect(new Set(first)).toEqual(new Set(['status', 'pass']));
  });
});
