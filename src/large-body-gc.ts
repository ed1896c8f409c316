import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Large bodies (a 900 KB hostile string, a 10 MB array) live on as text and parsed values in V8's large-object space,
 * which only a full mark-compact frees; under a storm of them V8 lets that garbage grow the heap by ~100 MiB before
 * it collects (bench/RESULTS.md, issue #8). Once `bytes` of such bodies have been answered, a major GC is asked for,
 * at most once per `intervalMs`, as a task of the event loop (`execution: 'async'`: after the current request's
 * answer, not during it; the collection itself is a full mark-compact pause). Ordinary traffic — bodies under
 * `minBodyBytes` — never triggers it.
 */

export interface LargeBodyGcOptions {
  /** Bodies at least this large count. */
  minBodyBytes: number;
  /** Bytes of counted bodies between two collections; 0: never. */
  bytes: number;
  /** Collections at most this often. */
  intervalMs: number;
}

/** What counts as large, and the pace: constants; the bytes between collections is a setting (PCM_INGEST_LARGE_BODY_GC_BYTES). */
export const LARGE_BODY_MIN_BYTES = 256 * 1024;
export const LARGE_BODY_GC_INTERVAL_MS = 250;

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => unknown;

/**
 * V8's gc(), taken once for this module: `globalThis.gc` when the process runs with --expose-gc, otherwise from a
 * context made while the flag is briefly on, then off again — so no later context, worker or library sees a gc it
 * did not ask for. null where the runtime refuses.
 */
function exposedGc(): GcFunction | null {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as GcFunction;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as GcFunction) : null;
  } catch {
    return null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

export class LargeBodyGc {
  private counted = 0;
  private last = Number.NEGATIVE_INFINITY;
  private gc: GcFunction | null | undefined;
  /** Collections asked for (for tests and the debug log). */
  collections = 0;

  constructor(
    private readonly options: LargeBodyGcOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** A body of `size` bytes was answered; its text and values are garbage from now on. True when a collection was asked for. */
  answered(size: number): boolean {
    if (size < this.options.minBodyBytes || this.options.bytes <= 0) return false;
    this.counted += size;
    if (this.counted < this.options.bytes) return false;
    const now = this.now();
    if (now - this.last < this.options.intervalMs) return false;
    // Looked up on the first large body only: most processes never see one.
    if (this.gc === undefined) this.gc = exposedGc();
    this.counted = 0;
    this.last = now;
    if (this.gc === null) return false;
    this.collections++;
    void Promise.resolve(this.gc({ type: 'major', execution: 'async' })).catch(() => undefined);
    return true;
  }
}
