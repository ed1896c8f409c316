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
  /**
   * The waiting request last let go, until it charges its next chunk or is done reading: the next one waits for it
   * (see wakeNext). A client let go that then sends nothing holds the others until the request timeout closes it.
   */
  private letGo: BudgetTicket | null = null;
  /** Requests waiting their turn; while there are some, a newcomer queues behind them (first come, first served). */
  private waiters = 0;
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
    this.passed(ticket);
  }

  /** @internal The ticket read on (charged a chunk, or found its body complete): the next may go. */
  passed(ticket: BudgetTicket): void {
    if (this.letGo === ticket) this.letGo = null;
    this.wakeNext();
  }

  /** @internal Reading on without waiting: the oldest always; others while there is room and nobody queues. */
  mayRead(ticket: BudgetTicket): boolean {
    return this.open[0] === ticket || (this.used < this.limit && this.letGo === null && this.waiters === 0);
  }

  /** @internal */
  queued(): void {
    this.waiters++;
    this.wakeNext();
  }

  /** @internal */
  dequeued(): void {
    this.waiters--;
  }

  /** @internal */
  release(ticket: BudgetTicket, bytes: number): void {
    const at = this.open.indexOf(ticket);
    if (at < 0) return;
    this.open.splice(at, 1);
    this.used -= bytes;
    this.passed(ticket);
  }

  /**
   * Lets the oldest waiting request go when it may read: one at a time, the next once it has read on (charge() and
   * passed() call this again), so a release never lets every waiting request pull a chunk at once.
   */
  private wakeNext(): void {
    if (this.letGo !== null) return;
    for (const t of this.open) {
      if (!t.waiting) continue;
      if (this.open[0] === t || this.used < this.limit) {
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

  /** Bytes of the body read so far. */
  get bytes(): number {
    return this.held;
  }

  /** Counts bytes this request now holds. */
  charge(n: number): void {
    this.held += n;
    this.budget.charge(this, n);
  }

  /** Resolves when this request may read on: at once when it is the oldest, or there is room and nobody queues. */
  turn(): Promise<void> {
    if (this.released || this.budget.mayRead(this)) return Promise.resolve();
    const wait = new Promise<void>((resolve) => (this.resume = resolve));
    this.budget.queued();
    return wait;
  }

  /** The body is read: if this request was the one let go, the next may go now. */
  doneReading(): void {
    this.budget.passed(this);
  }

  /** @internal */
  wake(): void {
    const resume = this.resume;
    if (resume === null) return;
    this.resume = null;
    this.budget.dequeued();
    resume();
  }

  /** Gives the bytes back (the answer is sent, or the request failed); idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.wake();
    this.budget.release(this, this.held);
  }
}
