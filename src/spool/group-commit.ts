/**
 * Group commit: requests that arrive while the event loop is busy share one transaction (one fsync),
 * and each caller is answered only after that transaction has committed.
 */
interface Waiting<Req, Res> {
  request: Req;
  resolve: (value: Res) => void;
  reject: (err: unknown) => void;
}

export class GroupCommitter<Req, Res> {
  private queue: Waiting<Req, Res>[] = [];
  private scheduled = false;
  private idle: (() => void)[] = [];

  /** `commit` runs synchronously and returns one result per request, in order; if it throws, every request fails. */
  constructor(private readonly commit: (requests: readonly Req[]) => Res[]) {}

  submit(request: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate runs after pending I/O callbacks: every request already read joins this commit.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const group = this.queue;
    this.queue = [];
    if (group.length > 0) {
      try {
        const results = this.commit(group.map((w) => w.request));
        group.forEach((w, i) => w.resolve(results[i] as Res));
      } catch (err) {
        for (const w of group) w.reject(err);
      }
    }
    if (this.queue.length === 0) {
      for (const done of this.idle.splice(0)) done();
    }
  }

  /** Resolves when nothing is waiting to be committed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
