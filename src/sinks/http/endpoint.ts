import type { Clock } from "../../core/clock.js";
import type { Change } from "../../model/change.js";
import { errorMessage } from "../../model/errors.js";
import type { DeliveryOutcome, SinkHealth } from "../sink.js";
import { post } from "./post.js";
import { verdictOf } from "./response.js";

/** One HTTP request for one change. */
export interface HttpRequest {
  headers: Record<string, string>;
  body: string;
}

/**
 * An HTTP endpoint that gets one POST per change, in the order given. The webhook and Slack
 * sinks differ only in how they build the request; what an answer means is the same.
 */
export class HttpEndpoint {
  private gone: string | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly url: string,
    private readonly build: (change: Change) => HttpRequest,
    private readonly clock: Clock,
  ) {}

  async deliver(changes: readonly Change[], signal: AbortSignal): Promise<DeliveryOutcome[]> {
    const outcomes: DeliveryOutcome[] = [];
    for (const [i, change] of changes.entries()) {
      if (this.gone) {
        outcomes.push({ status: "rejected", error: this.gone });
        continue;
      }
      const outcome = await this.deliverOne(change, signal);
      outcomes.push(outcome);
      // A failing endpoint is not hammered with the rest of the batch: they wait with it.
      if (outcome.status === "retry") {
        for (const _ of changes.slice(i + 1)) outcomes.push(outcome);
        break;
      }
    }
    return outcomes;
  }

  health(): SinkHealth {
    const health: SinkHealth = { disabled: this.gone !== undefined };
    const error = this.gone ?? this.lastError;
    if (error) health.lastError = error;
    return health;
  }

  private async deliverOne(change: Change, signal: AbortSignal): Promise<DeliveryOutcome> {
    const request = this.build(change);
    let answer: Awaited<ReturnType<typeof post>>;
    try {
      answer = await post(this.url, request.headers, request.body, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      this.lastError = errorMessage(err);
      return { status: "retry", error: this.lastError };
    }
    const verdict = verdictOf(answer.status, answer.retryAfter, this.clock.now());
    if (verdict.status === "gone") {
      this.gone = `${verdict.error}; the endpoint is disabled until crwatch restarts`;
      return { status: "rejected", error: this.gone };
    }
    if (verdict.status !== "delivered") this.lastError = verdict.error;
    return verdict;
  }
}
