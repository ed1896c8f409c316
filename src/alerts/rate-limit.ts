/**
 * A subscription's rate limit (seed 004: the most requests a webhook makes in a period): at most `perMinute`
 * requests in every 60 s, retries included. A sliding window of the last requests' times, so a burst after a quiet
 * spell goes out at once and a steady stream is held to the rate.
 */

const WINDOW_MS = 60_000;

export class MinuteRateLimit {
  private readonly sent: number[] = [];

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until the next request may leave; 0: now. */
  wait(): number {
    const now = this.now();
    while (this.sent.length > 0 && (this.sent[0] as number) <= now - WINDOW_MS) this.sent.shift();
    if (this.sent.length < this.perMinute) return 0;
    return (this.sent[0] as number) + WINDOW_MS - now;
  }

  /** A request left now. */
  taken(): void {
    this.sent.push(this.now());
  }
}
