import { createHmac, timingSafeEqual } from "node:crypto";

/** Request headers with lower-case names, as node:http gives them. */
export type Headers = Readonly<Record<string, string | string[] | undefined>>;

export type Provider = "github" | "gitlab" | "gitea";

export type Verdict =
  | { ok: true; provider: Provider; deliveryId?: string }
  | { ok: false; reason: string };

/** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. */
export function verifyGitHubSignature(body: Buffer, header: string, secret: string): boolean {
  if (!header.startsWith("sha256=")) return false;
  return equalHex(header.slice("sha256=".length), hmacHex(secret, body));
}

/** Gitea and Forgejo: `X-Gitea-Signature: <hex HMAC-SHA256 of the raw body>`. */
export function verifyGiteaSignature(body: Buffer, header: string, secret: string): boolean {
  return equalHex(header, hmacHex(secret, body));
}

/** GitLab sends the secret itself as `X-Gitlab-Token`: compared in constant time. */
export function verifyGitLabToken(header: string, secret: string): boolean {
  return constantTimeEqual(Buffer.from(header, "utf8"), Buffer.from(secret, "utf8"));
}

/**
 * Checks a push request from any of the three providers, picked by the header that carries
 * its proof. Unsigned or wrongly signed requests fail; the delivery id (for replay checks)
 * comes back with a success.
 */
export function verifyPushRequest(headers: Headers, body: Buffer, secret: string): Verdict {
  const github = header(headers, "x-hub-signature-256");
  if (github !== undefined) {
    return verifyGitHubSignature(body, github, secret)
      ? accepted("github", header(headers, "x-github-delivery"))
      : { ok: false, reason: "X-Hub-Signature-256 does not match the body" };
  }
  const gitea = header(headers, "x-gitea-signature") ?? header(headers, "x-forgejo-signature");
  if (gitea !== undefined) {
    const id = header(headers, "x-gitea-delivery") ?? header(headers, "x-forgejo-delivery");
    return verifyGiteaSignature(body, gitea, secret)
      ? accepted("gitea", id)
      : { ok: false, reason: "X-Gitea-Signature does not match the body" };
  }
  const gitlab = header(headers, "x-gitlab-token");
  if (gitlab !== undefined) {
    const id = header(headers, "x-gitlab-event-uuid") ?? header(headers, "idempotency-key");
    return verifyGitLabToken(gitlab, secret)
      ? accepted("gitlab", id)
      : { ok: false, reason: "X-Gitlab-Token is wrong" };
  }
  return { ok: false, reason: "the request is not signed" };
}

function accepted(provider: Provider, deliveryId: string | undefined): Verdict {
  return deliveryId ? { ok: true, provider, deliveryId } : { ok: true, provider };
}

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function hmacHex(secret: string, body: Buffer): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

function equalHex(given: string, expected: string): boolean {
  if (!/^[0-9a-fA-F]{64}$/.test(given)) return false;
  return constantTimeEqual(Buffer.from(given.toLowerCase(), "hex"), Buffer.from(expected, "hex"));
}

/** Length may leak (a token's length is no secret worth the trouble); content does not. */
function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(b, b);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** Remembers delivery ids so a replayed request is refused; the oldest are forgotten first. */
export class DeliveryLedger {
  private readonly seen = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  /** True the first time an id is offered, false for a replay. */
  firstTime(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }
}
