/**
 * The de-duplication window: the most recent report keys, in memory, in typed arrays (12 bytes a slot), so that no
 * secondary index is written per report. What gateways retry after a lost answer is seconds to hours old; a key older
 * than the window is stored again (at worst, a duplicate at the PCM).
 *
 * Two generations of an open-addressing table: new keys go into the current one; when it holds half the window,
 * it becomes the previous one and the old previous one is cleared. A lookup sees both, so the window always covers
 * at least the last `capacity / 2` keys and at most the last `capacity`.
 *
 * A slot holds a 32-bit fingerprint of the key (uniform: bits of its SHA-256) and a reference (the row of the key in
 * the spool); the fingerprint is also the hash that places it. A fingerprint match is only a candidate: the caller
 * confirms it against the stored key, so a collision cannot drop a report.
 *
 * A table starts small and doubles as it fills, up to the size the capacity needs: memory follows the keys held
 * (a young or idle sidecar does not pay for a full window), and is 24 bytes × capacity at most.
 */

/** Slots a generation starts with (768 KiB for both); each doubling re-places its keys. */
export const DEDUP_INITIAL_SLOTS = 1 << 15;

class Generation {
  fingerprints: Uint32Array;
  refs: Float64Array;
  mask: number;
  size = 0;

  constructor(slots: number) {
    this.fingerprints = new Uint32Array(slots);
    this.refs = new Float64Array(slots);
    this.mask = slots - 1;
  }

  get slots(): number {
    return this.fingerprints.length;
  }

  clear(): void {
    this.fingerprints.fill(0);
    this.size = 0;
  }

  put(fp: number, ref: number): void {
    let i = fp & this.mask;
    while (this.fingerprints[i] !== 0) i = (i + 1) & this.mask;
    this.fingerprints[i] = fp;
    this.refs[i] = ref;
    this.size++;
  }

  /** Doubles the table, re-placing every key. */
  grow(): void {
    const { fingerprints, refs } = this;
    const slots = fingerprints.length * 2;
    this.fingerprints = new Uint32Array(slots);
    this.refs = new Float64Array(slots);
    this.mask = slots - 1;
    this.size = 0;
    for (let i = 0; i < fingerprints.length; i++) {
      const fp = fingerprints[i] as number;
      if (fp !== 0) this.put(fp, refs[i] as number);
    }
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
  /** Slots a generation needs at a load factor of 0.5 (linear probing stays short). */
  private readonly maxSlots: number;

  /** `capacity`: keys remembered (0 turns de-duplication off). */
  constructor(readonly capacity: number, initialSlots = DEDUP_INITIAL_SLOTS) {
    this.perGeneration = Math.max(1, Math.floor(capacity / 2));
    this.maxSlots = capacity > 0 ? nextPowerOfTwo(this.perGeneration * 2) : 1;
    const slots = Math.min(this.maxSlots, nextPowerOfTwo(Math.max(1, initialSlots)));
    this.current = new Generation(slots);
    this.previous = new Generation(slots);
  }

  /** Bytes of the two tables as they are now. */
  get bytes(): number {
    return (this.current.slots + this.previous.slots) * 12;
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** Puts the references stored under this fingerprint into `out`, newest generation first; returns how many. */
  lookup(fingerprint: number, out: number[]): number {
    if (this.capacity === 0) return 0;
    const fp = fingerprint || 1;
    let n = 0;
    for (let gen = 0; gen < 2; gen++) {
      const g = gen === 0 ? this.current : this.previous;
      for (let i = fp & g.mask; g.fingerprints[i] !== 0; i = (i + 1) & g.mask) {
        if (g.fingerprints[i] === fp) out[n++] = g.refs[i] as number;
      }
    }
    return n;
  }

  clear(): void {
    this.current.clear();
    this.previous.clear();
  }

  add(fingerprint: number, ref: number): void {
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
    if (g.slots < this.maxSlots && (g.size + 1) * 2 > g.slots) g.grow();
    g.put(fingerprint || 1, ref);
  }
}
