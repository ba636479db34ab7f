import type { DeliveryOutcome } from "../sink.js";

/** What one HTTP answer means for the change it carried. */
export type HttpVerdict =
  | DeliveryOutcome
  /** 410 Gone: the endpoint was removed; it is disabled until crwatch restarts. */
  | { status: "gone"; error: string };

/**
 * Maps a response to an outcome: 2xx delivered; 429 and 503 honour `Retry-After`; any other
 * 5xx (and 408) retries; 410 disables the endpoint; any other 4xx is a refusal for good.
 * 1xx/3xx cannot reach here (fetch follows redirects) and are treated as failures to retry.
 */
export function verdictOf(status: number, retryAfter: string | null, now: number): HttpVerdict {
  if (status >= 200 && status < 300) return { status: "delivered" };
  const error = `HTTP ${status}`;
  if (status === 410) return { status: "gone", error: `${error}: the endpoint is gone` };
  if (status === 429 || status === 503) {
    const notBefore = retryAfterMs(retryAfter, now);
    return notBefore === undefined
      ? { status: "retry", error }
      : { status: "retry", error, notBefore };
  }
  if (status === 408 || status >= 500 || status < 200 || (status >= 300 && status < 400))
    return { status: "retry", error };
  return { status: "rejected", error };
}

/**
 * `Retry-After` as an epoch ms: delta-seconds or an HTTP-date (RFC 9110 §10.2.3), read
 * against the injected clock. An unreadable value is ignored (the backoff applies).
 */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return now + Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(now, date);
}
