/**
 * Bytes of request bodies held at once, across every request being read, parsed, validated and committed: what
 * bounds ingest's memory by construction (a body is held as Buffer, text and parsed objects, ~3× its size, until
 * its commit). Bytes are charged as they arrive, not as declared, so a client that announces 10 MB and sends little
 * holds little. Past the limit, a request reads on only if it is the oldest one holding bytes; the others wait, and
 * TCP backpressure slows their clients. The oldest always proceeds, so the wait always ends. Waiting requests are
 * let go one at a time — the next only once the last one let go has charged a chunk and there is still room — so
 * at most the limit, one body (PCM_INGEST_MAX_BODY_BYTES) and one chunk are charged at once; what each paused
 * connection has buffered below that (its stream's 16 KiB and the socket's) is not charged. A client that trickles a
 * large body holds its share until PCM_INGEST_REQUEST_TIMEOUT_MS closes it.
 */
export class BodyBudget {
  private used = 0;
  /** A request let go that has not charged its first chunk yet: the next waits for it (see wakeNext). */
  private letGo: BudgetTicket | null = null;
  /** Open tickets in arrival order; the first is the one that may always read on. */
  private readonly open: BudgetTicket[] = [];

  constructor(readonly limit: number) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.used;
  }

  ticket(): BudgetTicket {
    const ticket = new BudgetTicket(this);
    this.open.push(ticket);
    return ticket;
  }

  /** @internal */
  charge(ticket: BudgetTicket, n: number): void {
    this.used += n;
    if (this.letGo === ticket) this.letGo = null;
    this.wakeNext();
  }

  /** @internal */
  mayRead(ticket: BudgetTicket): boolean {
    return this.used < this.limit || this.open[0] === ticket;
  }

  /** @internal */
  release(ticket: BudgetTicket, bytes: number): void {
    const at = this.open.indexOf(ticket);
    if (at < 0) return;
    this.open.splice(at, 1);
    this.used -= bytes;
    if (this.letGo === ticket) this.letGo = null;
    this.wakeNext();
  }

  /**
   * Lets the oldest waiting request go when it may read. One at a time: it charges what it reads before the next
   * goes (charge() calls this again), so a release never lets every waiting request pull a chunk at once.
   */
  private wakeNext(): void {
    if (this.letGo !== null) return;
    for (const t of this.open) {
      if (!t.waiting) continue;
      if (this.mayRead(t)) {
        this.letGo = t;
        t.wake();
      }
      return;
    }
  }
}

export class BudgetTicket {
  private held = 0;
  private resume: (() => void) | null = null;
  private released = false;

  constructor(private readonly budget: BodyBudget) {}

  get waiting(): boolean {
    return this.resume !== null;
  }

  /** Counts bytes this request now holds. */
  charge(n: number): void {
    this.held += n;
    this.budget.charge(this, n);
  }

  /** Resolves when this request may read on: at once when there is room or it is the oldest. */
  turn(): Promise<void> {
    if (this.released || this.budget.mayRead(this)) return Promise.resolve();
    return new Promise((resolve) => (this.resume = resolve));
  }

  /** @internal */
  wake(): void {
    const resume = this.resume;
    this.resume = null;
    resume?.();
  }

  /** Gives the bytes back (the answer is sent, or the request failed); idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.release(this, this.held);
    this.wake();
  }
}
