/**
 * Per-client token buckets for client requests (issue: rate-limited per client). In memory: a replica
 * restart refills every bucket, which errs on the side of serving. The number of tracked clients is
 * bounded; the least recently seen are forgotten first.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
    private readonly maxClients = 10_000,
  ) {}

  /** Takes one token; returns 0 if allowed, else the milliseconds until a token is available. */
  take(client: string): number {
    const t = this.now();
    let b = this.buckets.get(client);
    if (b) this.buckets.delete(client);
    else b = { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
    b.at = t;
    this.buckets.set(client, b);
    if (this.buckets.size > this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return ((1 - b.tokens) / this.ratePerSecond) * 1000;
  }
}
