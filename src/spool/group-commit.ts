/**
 * Group commit: requests that arrive while earlier commits are under way (or while the event loop is busy) share
 * one transaction (one fsync), and each caller is answered only after that transaction has committed.
 * `commit` may be synchronous (in-process SQLite) or asynchronous (the writer thread).
 *
 * With `depth` > 1, up to that many groups are handed to `commit` before the first is answered: a writer thread that
 * applies its messages in order then starts the next transaction as soon as it has committed one, instead of idling
 * while the event loop, busy parsing, gets round to its answer and sends the next group. Each group still commits
 * or fails on its own and is answered when its own commit is (the writer thread commits them in the order given).
 */
interface Waiting<Req, Res> {
  /** Let go once handed to `commit`, which has what it needs (the writer thread, its own copy). */
  request: Req | null;
  resolve: (value: Res) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions<Req> {
  /** Bounds a group (by a weight such as bytes, at least one request): the rest waits for the next commit. */
  limit?: { weigh: (request: Req) => number; max: number };
  /** Groups handed to `commit` and not yet answered, at most (1: one commit at a time). */
  depth?: number;
}

export class GroupCommitter<Req, Res> {
  private queue: Waiting<Req, Res>[] = [];
  private scheduled = false;
  private running = 0;
  private idle: (() => void)[] = [];
  private readonly limit: GroupCommitOptions<Req>['limit'];
  private readonly depth: number;

  /** `commit` returns one result per request, in order; if it throws or rejects, every request of the group fails. */
  constructor(
    private readonly commit: (requests: readonly Req[]) => Res[] | Promise<Res[]>,
    options: GroupCommitOptions<Req> = {},
  ) {
    this.limit = options.limit;
    this.depth = Math.max(1, options.depth ?? 1);
  }

  submit(request: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.depth) return;
    this.scheduled = true;
    // setImmediate runs after pending I/O callbacks: every request already read joins this commit.
    setImmediate(() => void this.flush());
  }

  private take(): Waiting<Req, Res>[] {
    let group = this.queue;
    this.queue = [];
    if (this.limit && group.length > 1) {
      let weight = 0;
      let take = 0;
      while (take < group.length && (take === 0 || weight + this.limit.weigh((group[take] as Waiting<Req, Res>).request as Req) <= this.limit.max)) {
        weight += this.limit.weigh((group[take] as Waiting<Req, Res>).request as Req);
        take++;
      }
      this.queue = group.slice(take);
      group = group.slice(0, take);
    }
    return group;
  }

  /**
   * Gives a group's requests to `commit` and lets go of them; apart from flush so that its suspended frame does not
   * hold them either while the commit is awaited.
   */
  private handOver(group: Waiting<Req, Res>[]): Res[] | Promise<Res[]> {
    const requests = group.map((w) => w.request as Req);
    for (const w of group) w.request = null;
    try {
      return this.commit(requests);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const group = this.take();
    if (group.length > 0) {
      this.running++;
      const pending = this.handOver(group);
      // Handed over: the next group may go while this one commits.
      if (pending instanceof Promise && this.queue.length > 0) this.schedule();
      try {
        const results = pending instanceof Promise ? await pending : pending;
        group.forEach((w, i) => w.resolve(results[i] as Res));
      } catch (err) {
        for (const w of group) w.reject(err);
      } finally {
        this.running--;
      }
    }
    if (this.queue.length > 0) this.schedule();
    else if (this.running === 0 && !this.scheduled) for (const done of this.idle.splice(0)) done();
  }

  /** Resolves when nothing is waiting to be committed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
