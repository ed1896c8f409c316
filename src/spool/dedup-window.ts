/**
 * The de-duplication window: the most recent report keys, in memory, in fixed-size typed arrays (12 bytes a slot,
 * allocated once), so that no secondary index is written per report. What gateways retry after a lost answer is
 * seconds to hours old; a key older than the window is stored again (at worst, a duplicate at the PCM).
 *
 * Two generations of an open-addressing table: new keys go into the current one; when it holds half the window,
 * it becomes the previous one and the old previous one is cleared. A lookup sees both, so the window always covers
 * at least the last `capacity / 2` keys and at most the last `capacity`.
 *
 * A slot holds a 32-bit fingerprint of the key and a reference (the row of the key in the spool). A fingerprint
 * match is only a candidate: the caller confirms it against the stored key, so a collision cannot drop a report.
 */

class Generation {
  readonly fingerprints: Uint32Array;
  readonly refs: Float64Array;
  readonly mask: number;
  size = 0;

  constructor(slots: number) {
    this.fingerprints = new Uint32Array(slots);
    this.refs = new Float64Array(slots);
    this.mask = slots - 1;
  }

  clear(): void {
    this.fingerprints.fill(0);
    this.size = 0;
  }
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class DedupWindow {
  private current: Generation;
  private previous: Generation;
  private readonly perGeneration: number;

  /** `capacity`: keys remembered (0 turns de-duplication off). Memory: 24 bytes × capacity, rounded up. */
  constructor(readonly capacity: number) {
    this.perGeneration = Math.max(1, Math.floor(capacity / 2));
    // Load factor ≤ 0.5 per generation keeps linear probing short.
    const slots = capacity > 0 ? nextPowerOfTwo(this.perGeneration * 2) : 1;
    this.current = new Generation(slots);
    this.previous = new Generation(slots);
  }

  /** Bytes of the two tables. */
  get bytes(): number {
    return 2 * this.current.fingerprints.length * 12;
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** Puts the references stored under this fingerprint into `out`, newest generation first; returns how many. */
  lookup(fingerprint: number, slot: number, out: number[]): number {
    if (this.capacity === 0) return 0;
    const fp = fingerprint || 1;
    let n = 0;
    for (let gen = 0; gen < 2; gen++) {
      const g = gen === 0 ? this.current : this.previous;
      for (let i = slot & g.mask; g.fingerprints[i] !== 0; i = (i + 1) & g.mask) {
        if (g.fingerprints[i] === fp) out[n++] = g.refs[i] as number;
      }
    }
    return n;
  }

  clear(): void {
    this.current.clear();
    this.previous.clear();
  }

  add(fingerprint: number, slot: number, ref: number): void {
    if (this.capacity === 0) return;
    if (this.current.size >= this.perGeneration) {
      const old = this.previous;
      old.clear();
      // A window of one key has no room for a previous generation.
      if (this.capacity >= 2) {
        this.previous = this.current;
        this.current = old;
      } else {
        this.current.clear();
      }
    }
    const g = this.current;
    const fp = fingerprint || 1;
    let i = slot & g.mask;
    while (g.fingerprints[i] !== 0) i = (i + 1) & g.mask;
    g.fingerprints[i] = fp;
    g.refs[i] = ref;
    g.size++;
  }
}
