import { createHmac, timingSafeEqual } from "node:crypto";
import { CrwatchError } from "../../model/errors.js";

export interface SignedHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

/**
 * Standard Webhooks v1 (symmetric): HMAC-SHA256 over `id.timestamp.body` with the
 * base64-decoded secret, compared in constant time against each `v1,<base64>` in the
 * space-separated signature header (other versions are ignored). The timestamp must be
 * digits only and within the tolerance of now, either way.
 */
export class WebhookVerifier {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly toleranceMs: number,
  ) {
    this.key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
    if (this.key.length === 0) {
      throw new CrwatchError("CRW_CONFIG_INVALID", "the webhook secret is empty");
    }
  }

  sign(id: string, timestamp: string | number, body: Buffer | string): string {
    const mac = createHmac("sha256", this.key).update(`${id}.${timestamp}.`).update(body);
    return `v1,${mac.digest("base64")}`;
  }

  /** Throws CRW_WEBHOOK_SIGNATURE with the reason; returns the timestamp in ms. */
  verify(headers: SignedHeaders, body: Buffer, nowMs: number): number {
    const { id, timestamp, signature } = headers;
    if (!id || !timestamp || !signature) {
      const missing = Object.entries(headers)
        .filter(([, v]) => !v)
        .map(([k]) => `webhook-${k}`);
      throw refused(`missing header ${missing.join(", ")}`);
    }
    if (!/^[0-9]+$/.test(timestamp))
      throw refused("webhook-timestamp is not a whole number of seconds");
    const atMs = Number(timestamp) * 1000;
    if (nowMs - atMs > this.toleranceMs) throw refused("webhook-timestamp is too old (a replay?)");
    if (atMs - nowMs > this.toleranceMs)
      throw refused("webhook-timestamp is too far in the future");
    const expected = Buffer.from(this.sign(id, timestamp, body).slice(3), "base64");
    for (const candidate of signature.split(" ")) {
      const [version, value] = candidate.split(",", 2);
      if (version !== "v1" || !value) continue;
      const given = Buffer.from(value, "base64");
      if (given.length === expected.length && timingSafeEqual(given, expected)) return atMs;
    }
    throw refused("no valid v1 signature");
  }
}

function refused(message: string): CrwatchError {
  return new CrwatchError("CRW_WEBHOOK_SIGNATURE", message);
}
