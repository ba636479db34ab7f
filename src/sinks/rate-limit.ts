import type { Clock } from "../core/clock.js";

/** A token bucket on the injected clock: `take(n)` waits until n changes may go out. */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock,
  ) {
    this.tokens = perSecond;
    this.last = clock.now();
  }

  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (this.perSecond <= 0) return;
    this.refill();
    // A batch larger than one second's worth goes out once the bucket is full.
    const need = Math.min(n, this.perSecond);
    if (this.tokens < need) {
      await this.clock.sleep(((need - this.tokens) / this.perSecond) * 1000, signal);
      this.refill();
    }
    this.tokens -= need;
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(
      this.perSecond,
      this.tokens + ((now - this.last) / 1000) * this.perSecond,
    );
    this.last = now;
  }
}
