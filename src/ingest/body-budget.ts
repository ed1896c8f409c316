/**
 * Bytes of request bodies held at once, across every request being read, parsed, validated and committed: what
 * bounds ingest's memory by construction (a body is held as Buffer, text and parsed objects, ~3× its size, until
 * its commit). Bytes are charged as they arrive, not as declared, so a client that announces 10 MB and sends little
 * holds little. Past the limit, a request reads on only if it is the oldest one holding bytes; the others wait, and
 * TCP backpressure slows their clients. The oldest always proceeds, so the wait always ends; at most the limit plus
 * one body (PCM_INGEST_MAX_BODY_BYTES) is held. A client that trickles a large body holds its share until
 * PCM_INGEST_REQUEST_TIMEOUT_MS closes it.
 */
export class BodyBudget {
  private used = 0;
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
  charge(n: number): void {
    this.used += n;
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
    // In arrival order, as long as there is room (the new head may always go).
    for (const t of this.open) {
      if (!t.waiting) continue;
      if (!this.mayRead(t)) break;
      t.wake();
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
    this.budget.charge(n);
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
