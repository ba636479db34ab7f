import { createHmac } from "node:crypto";
import { CrwatchError } from "../../model/errors.js";

const PREFIX = "whsec_";

/**
 * The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`, decoded (the key is
 * the decoded bytes, not the text). The spec asks for 24 to 64 random bytes.
 */
export function keyOf(secret: string): Buffer {
  const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new CrwatchError(
      "CRW_SINK_CONFIG",
      "a webhook secret must be whsec_ followed by base64 (24 to 64 random bytes)",
    );
  }
  const key = Buffer.from(encoded, "base64");
  if (key.length < 24 || key.length > 64) {
    throw new CrwatchError(
      "CRW_SINK_CONFIG",
      `a webhook secret must decode to 24 to 64 bytes, this one has ${key.length}`,
    );
  }
  return key;
}

/**
 * The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one per
 * key, space-separated, so a receiver rotating secrets accepts either.
 */
export function signatureHeader(
  keys: readonly Buffer[],
  id: string,
  timestamp: number,
  body: string,
): string {
  const content = `${id}.${timestamp}.${body}`;
  return keys
    .map((key) => `v1,${createHmac("sha256", key).update(content, "utf8").digest("base64")}`)
    .join(" ");
}

/** The three Standard Webhooks headers for one message. */
export function standardWebhookHeaders(
  keys: readonly Buffer[],
  id: string,
  timestamp: number,
  body: string,
): Record<string, string> {
  const headers: Record<string, string> = {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
  };
  if (keys.length > 0) headers["webhook-signature"] = signatureHeader(keys, id, timestamp, body);
  return headers;
}
