import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SidecarError } from '../errors.js';
import { mulberry32 } from '../random.js';

/**
 * Fault injection for the PCM emulator: what to do with the next token or report request. Pure decision logic — the
 * server asks per request and carries the decision out (wait, answer a status, never answer, destroy the socket), so
 * every knob can be tested without a network and, with a seed or a stub random, without chance.
 */

const probability = z.number().min(0).max(1);

/** The statuses the real PCM (and the gateway in front of it) is seen to answer under load or failure. */
const ERROR_STATUSES = ['429', '500', '502', '503', '504'] as const;

/** Float sums such as 0.1 + 0.2 + 0.7 land a hair above 1; that is still "all of them". */
const RATE_SUM_TOLERANCE = 1e-9;

const outageSchema = z
  .strictObject({
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    mode: z.enum(['status', 'hang', 'reset']).default('status'),
    status: z
      .int()
      .refine((s) => s === 429 || (s >= 500 && s <= 599), 'expected 429 or a 5xx status')
      .default(503),
  })
  .refine((o) => Date.parse(o.from) < Date.parse(o.to), { message: '"to" must be after "from"', path: ['to'] });

/**
 * Every field has a default, so `{}` means "no faults". Strict: an unknown key is more likely a typo than a wish.
 *
 * - latencyMs, latencyJitterMs: wait latencyMs plus a uniform 0..latencyJitterMs before answering a report request
 *   (also before an injected status; not before a hang or a reset, which never answer).
 * - errorRates: probability per status ('429' | '500' | '502' | '503' | '504'). They share one draw, so they add up
 *   to at most 1 and each is the exact share of the requests that get past hang and reset.
 * - retryAfterSeconds: Retry-After sent with injected 429 and 503 (the statuses where HTTP gives it a meaning);
 *   null sends none. Token faults use it too.
 * - hangRate, resetRate: probability of never answering / destroying the connection. Checked in that order, each on
 *   the requests that are left, so hangRate 0.5 and resetRate 0.5 give 50% hangs and 25% resets.
 * - outages: while now ∈ [from, to) every report request gets the window's treatment, whatever the rates say.
 * - maxItems, maxBodyBytes: lower limits than the PCM's (5000 items, 10 MB), to exercise 413 handling cheaply.
 * - token: the same idea for the token endpoint, which has its own failure modes (an auth server, not the API).
 * - seed: makes the random decisions reproducible run to run.
 */
export const faultConfigSchema = z.strictObject({
  latencyMs: z.number().min(0).default(0),
  latencyJitterMs: z.number().min(0).default(0),
  errorRates: z
    .partialRecord(z.enum(ERROR_STATUSES), probability)
    .superRefine((rates, ctx) => {
      const sum = sumRates(rates);
      if (sum > 1 + RATE_SUM_TOLERANCE) {
        ctx.addIssue({ code: 'custom', message: `the error rates share the same requests, so they must add up to at most 1 (they add up to ${sum})` });
      }
    })
    .default({}),
  retryAfterSeconds: z.number().min(0).nullable().default(null),
  hangRate: probability.default(0),
  resetRate: probability.default(0),
  outages: z.array(outageSchema).default([]),
  maxItems: z.int().positive().optional(),
  maxBodyBytes: z.int().positive().optional(),
  token: z
    .strictObject({
      errorRate: probability.default(0),
      status: z.int().min(400).max(599).default(503),
      hangRate: probability.default(0),
      latencyMs: z.number().min(0).default(0),
    })
    // prefault, not default: `{}` goes through the schema, so the inner defaults fill it in.
    .prefault({}),
  seed: z.int().optional(),
});

export type FaultConfig = z.infer<typeof faultConfigSchema>;

export type FaultDecision =
  | { kind: 'pass'; latencyMs: number }
  | { kind: 'status'; status: number; retryAfterSeconds: number | null; latencyMs: number; reason: string }
  | { kind: 'hang'; reason: string }
  | { kind: 'reset'; reason: string };

function sumRates(rates: Partial<Record<string, number>>): number {
  let sum = 0;
  for (const rate of Object.values(rates)) sum += rate ?? 0;
  return sum;
}

/** A fault file or admin body cannot be used; `origin` names it (a path, or the endpoint it came through). */
export class FaultError extends SidecarError {
  readonly origin: string;
  constructor(origin: string, message: string, options?: { cause?: unknown }) {
    super('PCM_EMULATOR_FAULTS_INVALID', `fault configuration ${origin}: ${message}`, options);
    this.origin = origin;
  }
}

function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `${out === '' ? '' : '.'}${String(key)}`;
  return out === '' ? '(root)' : out;
}

/** Validates a fault configuration from any source; throws FaultError naming `origin` and each bad field. */
export function parseFaultConfig(input: unknown, origin: string): FaultConfig {
  const parsed = faultConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issuePath(issue.path)}: ${issue.message}`);
    throw new FaultError(origin, issues.join('; '));
  }
  return parsed.data;
}

/** Reads a JSON fault file; throws FaultError naming the file and what is wrong with it. */
export function loadFaultFile(file: string): FaultConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FaultError(file, `cannot read the file (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new FaultError(file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  return parseFaultConfig(json, file);
}


interface QueuedFault {
  status: number;
  remaining: number;
  retryAfterSeconds: number | null;
}

interface Window {
  from: number;
  to: number;
  mode: 'status' | 'hang' | 'reset';
  status: number;
  label: string;
}

/** Retry-After only means something with "too many requests" and "unavailable"; elsewhere the PCM sends none. */
function retryAfterFor(status: number, seconds: number | null): number | null {
  return status === 429 || status === 503 ? seconds : null;
}

/**
 * Decides each request's fate. Random draws happen only for knobs that are on (one per non-zero rate reached, one for
 * the error rates together, one for jitter), so a stub random can script a decision exactly.
 */
export class FaultInjector {
  private config!: FaultConfig;
  private windows: Window[] = [];
  private random!: () => number;
  private readonly queue: QueuedFault[] = [];

  /** An explicit `random` wins over `seed` for the injector's whole life, so tests keep control across configure(). */
  constructor(
    config: FaultConfig = faultConfigSchema.parse({}),
    private readonly injectedRandom?: () => number,
  ) {
    this.configure(config);
  }

  /** Replaces the configuration at run time; a seed restarts its sequence. Queued faults are kept: they are separate orders. */
  configure(config: FaultConfig): void {
    this.config = config;
    // Parsed once here rather than per request; the schema already checked the strings and from < to.
    this.windows = config.outages.map((o) => ({
      from: Date.parse(o.from),
      to: Date.parse(o.to),
      mode: o.mode,
      status: o.status,
      label: `outage ${o.from}..${o.to}`,
    }));
    this.random = this.injectedRandom ?? (config.seed === undefined ? Math.random : mulberry32(config.seed));
  }

  current(): FaultConfig {
    return this.config;
  }

  /** The next `count` report requests get `status`, ahead of any rate. Retry-After is sent as given: the caller asked for it. */
  enqueue(status: number, count: number, retryAfterSeconds: number | null): void {
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new RangeError(`status must be an HTTP status, got ${status}`);
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
    if (count > 0) this.queue.push({ status, remaining: count, retryAfterSeconds });
  }

  /** Drops the queued faults not yet served; returns how many requests they would still have hit. */
  clearQueue(): number {
    const left = this.queue.reduce((n, q) => n + q.remaining, 0);
    this.queue.length = 0;
    return left;
  }

  /** Order: outage window → queued → hang → reset → error rates → pass. `now` is epoch milliseconds. */
  decideReport(now: number): FaultDecision {
    const c = this.config;
    const window = this.windows.find((w) => now >= w.from && now < w.to);
    if (window) {
      if (window.mode !== 'status') return { kind: window.mode, reason: window.label };
      return this.status(window.status, retryAfterFor(window.status, c.retryAfterSeconds), window.label);
    }

    const queued = this.queue[0];
    if (queued) {
      if (--queued.remaining === 0) this.queue.shift();
      return this.status(queued.status, queued.retryAfterSeconds, 'queued');
    }

    if (this.roll(c.hangRate)) return { kind: 'hang', reason: 'hangRate' };
    if (this.roll(c.resetRate)) return { kind: 'reset', reason: 'resetRate' };

    const status = this.pickErrorStatus();
    if (status !== null) return this.status(status, retryAfterFor(status, c.retryAfterSeconds), `errorRates.${status}`);

    return { kind: 'pass', latencyMs: this.latency() };
  }

  /** Token requests: hang → error → pass. Outages cover the report API only; `now` keeps both calls alike. */
  decideToken(now: number): FaultDecision {
    void now;
    const t = this.config.token;
    if (this.roll(t.hangRate)) return { kind: 'hang', reason: 'token.hangRate' };
    if (this.roll(t.errorRate)) {
      return { kind: 'status', status: t.status, retryAfterSeconds: retryAfterFor(t.status, this.config.retryAfterSeconds), latencyMs: t.latencyMs, reason: 'token.errorRate' };
    }
    return { kind: 'pass', latencyMs: t.latencyMs };
  }

  /** Only ever lowers the limit: the emulator must not accept what the PCM would refuse. */
  maxItems(pcmDefault: number): number {
    return Math.min(this.config.maxItems ?? pcmDefault, pcmDefault);
  }

  maxBodyBytes(pcmDefault: number): number {
    return Math.min(this.config.maxBodyBytes ?? pcmDefault, pcmDefault);
  }

  private status(status: number, retryAfterSeconds: number | null, reason: string): FaultDecision {
    return { kind: 'status', status, retryAfterSeconds, latencyMs: this.latency(), reason };
  }

  /** No draw for a rate of 0, so a stub random only has to script the knobs a test turns on. */
  private roll(rate: number): boolean {
    return rate > 0 && this.random() < rate;
  }

  /** One draw partitions [0, 1) into the configured rates in status order; past their sum, no error. */
  private pickErrorStatus(): number | null {
    const rates = this.config.errorRates;
    if (sumRates(rates) <= 0) return null;
    const r = this.random();
    let edge = 0;
    for (const status of ERROR_STATUSES) {
      edge += rates[status] ?? 0;
      if (r < edge) return Number(status);
    }
    return null;
  }

  private latency(): number {
    const { latencyMs, latencyJitterMs } = this.config;
    return latencyJitterMs > 0 ? latencyMs + this.random() * latencyJitterMs : latencyMs;
  }
}
