/**
 * Bytes of request bodies being read, parsed and validated at once. A body waits (unread: TCP pushes back on the
 * client) while the others hold the budget, so memory under a storm of large bodies is bounded by the budget, not
 * by the number of connections. One request is always let in when nothing else is, so any single body up to the
 * body limit is still taken. Each request takes its share once, up front: no two can wait on each other.
 */
export class ByteBudget {
  private inUse = 0;
  private readonly waiting: { bytes: number; admit: () => void }[] = [];

  constructor(private readonly limit: number) {}

  acquire(bytes: number): Promise<void> {
    if (this.fits(bytes) && this.waiting.length === 0) {
      this.inUse += bytes;
      return Promise.resolve();
    }
    return new Promise((admit) => this.waiting.push({ bytes, admit }));
  }

  release(bytes: number): void {
    this.inUse -= bytes;
    while (this.waiting.length > 0 && this.fits((this.waiting[0] as { bytes: number }).bytes)) {
      const next = this.waiting.shift() as { bytes: number; admit: () => void };
      this.inUse += next.bytes;
      next.admit();
    }
  }

  private fits(bytes: number): boolean {
    return this.inUse === 0 || this.inUse + bytes <= this.limit;
  }
}
