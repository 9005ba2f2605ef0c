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

  /**
   * Takes `cost` tokens (a batch of requests costs one per request; a cost above the burst can never be
   * paid and waits as if for the burst); returns 0 if allowed, else the milliseconds until they are there.
   */
  take(client: string, cost = 1): number {
    const need = Math.min(Math.max(1, cost), this.burst);
    const t = this.now();
    let b = this.buckets.get(client);
    if (b) this.buckets.delete(client);
    else b = { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
    b.at = t;
    this.buckets.set(client, b);
    if (this.buckets.size > this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens >= need) {
      b.tokens -= need;
      return 0;
    }
    return ((need - b.tokens) / this.ratePerSecond) * 1000;
  }
}
