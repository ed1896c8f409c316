/**
 * Group commit: requests that arrive while the previous commit is under way (or while the event loop is busy) share
 * one transaction (one fsync), and each caller is answered only after that transaction has committed.
 * `commit` may be synchronous (in-process SQLite) or asynchronous (the writer thread); one runs at a time.
 */
interface Waiting<Req, Res> {
  request: Req;
  resolve: (value: Res) => void;
  reject: (err: unknown) => void;
}

export class GroupCommitter<Req, Res> {
  private queue: Waiting<Req, Res>[] = [];
  private scheduled = false;
  private running = false;
  private idle: (() => void)[] = [];

  /**
   * `commit` returns one result per request, in order; if it throws or rejects, every request of the group fails.
   * `limit` bounds a group (by a weight such as bytes, at least one request): the rest waits for the next commit.
   */
  constructor(
    private readonly commit: (requests: readonly Req[]) => Res[] | Promise<Res[]>,
    private readonly limit?: { weigh: (request: Req) => number; max: number },
  ) {}

  submit(request: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // setImmediate runs after pending I/O callbacks: every request already read joins this commit.
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    let group = this.queue;
    this.queue = [];
    if (this.limit && group.length > 1) {
      let weight = 0;
      let take = 0;
      while (take < group.length && (take === 0 || weight + this.limit.weigh((group[take] as Waiting<Req, Res>).request) <= this.limit.max)) {
        weight += this.limit.weigh((group[take] as Waiting<Req, Res>).request);
        take++;
      }
      this.queue = group.slice(take);
      group = group.slice(0, take);
    }
    if (group.length > 0) {
      this.running = true;
      try {
        const pending = this.commit(group.map((w) => w.request));
        const results = pending instanceof Promise ? await pending : pending;
        group.forEach((w, i) => w.resolve(results[i] as Res));
      } catch (err) {
        for (const w of group) w.reject(err);
      } finally {
        this.running = false;
      }
    }
    if (this.queue.length > 0) this.schedule();
    else for (const done of this.idle.splice(0)) done();
  }

  /** Resolves when nothing is waiting to be committed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled && !this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
