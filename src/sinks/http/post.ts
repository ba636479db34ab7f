import { errorMessage } from "../../model/errors.js";

export interface HttpAnswer {
  status: number;
  retryAfter: string | null;
}

/**
 * One POST with Node's fetch. The body of the answer is read and dropped so the connection
 * is reused. Failures are re-thrown without the URL: webhook URLs (Slack's above all) are
 * secrets and must never reach a log.
 */
export async function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<HttpAnswer> {
  let response: Response;
  try {
    response = await fetch(url, { method: "POST", headers, body, signal, redirect: "follow" });
  } catch (err) {
    if (signal.aborted) throw signal.reason ?? err;
    throw new Error(`request failed: ${networkReason(err)}`);
  }
  await response.arrayBuffer().catch(() => undefined);
  return { status: response.status, retryAfter: response.headers.get("retry-after") };
}

/** `fetch failed` says nothing; its cause (ECONNREFUSED, a TLS error) does, and has no URL. */
function networkReason(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause && typeof cause === "object" && "code" in cause) return String(cause.code);
  return errorMessage(cause ?? err).replace(/https?:\/\/\S+/g, "<url>");
}
