import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { sharedDir } from "../../../test/helpers.js";
import { WebhookReceiver } from "./webhook-receiver.js";
import {
  DeliveryLedger,
  verifyGiteaSignature,
  verifyGitHubSignature,
  verifyGitLabToken,
  verifyPushRequest,
} from "./webhook-verify.js";

/** The documented GitHub vector (section B1 of the shared vectors file), read at test time. */
async function githubVector(): Promise<{ secret: string; payload: string; header: string }> {
  const text = await readFile(join(sharedDir, "vectors", "standard-webhooks.md"), "utf8");
  const b1 = text.slice(text.indexOf("### B1."));
  const field = (name: string) => new RegExp(`^${name}:\\s+"?(.*?)"?$`, "m").exec(b1)?.[1];
  const secret = field("secret");
  const payload = field("payload");
  const header = field("X-Hub-Signature-256");
  assert.ok(secret && payload && header, "vector B1 not found");
  return { secret, payload, header };
}

const quiet = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }));
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

describe("push webhook verification", () => {
  it("should accept GitHub's documented X-Hub-Signature-256 vector and nothing near it", async () => {
    const { secret, payload, header } = await githubVector();
    const body = Buffer.from(payload);
    assert.equal(verifyGitHubSignature(body, header, secret), true);
    assert.equal(
      verifyGitHubSignature(body, header.toUpperCase().replace("SHA256", "sha256"), secret),
      true,
    );
    assert.equal(verifyGitHubSignature(Buffer.from(`${payload} `), header, secret), false);
    assert.equal(verifyGitHubSignature(body, header, `${secret}!`), false);
    assert.equal(verifyGitHubSignature(body, header.slice(0, -1), secret), false);
    assert.equal(verifyGitHubSignature(body, header.replace("sha256=", "sha1="), secret), false);
    assert.equal(verifyGitHubSignature(body, `${header.slice(0, -1)}0`, secret), false);
  });

  it("should check Gitea/Forgejo signatures and GitLab tokens", () => {
    const body = Buffer.from('{"ref":"refs/heads/main"}');
    const sig = createHmac("sha256", "gitea-secret").update(body).digest("hex");
    assert.equal(verifyGiteaSignature(body, sig, "gitea-secret"), true);
    assert.equal(verifyGiteaSignature(body, sig, "other-secret"), false);
    assert.equal(verifyGiteaSignature(body, "zz", "gitea-secret"), false);
    assert.equal(verifyGitLabToken("gitlab-token", "gitlab-token"), true);
    assert.equal(verifyGitLabToken("gitlab-tokeN", "gitlab-token"), false);
    assert.equal(verifyGitLabToken("gitlab", "gitlab-token"), false);
  });

  it("should pick the provider by its header and refuse an unsigned request", () => {
    const body = Buffer.from("{}");
    const gh = `sha256=${createHmac("sha256", "s3cret-key").update(body).digest("hex")}`;
    assert.deepStrictEqual(
      verifyPushRequest(
        { "x-hub-signature-256": gh, "x-github-delivery": "d1" },
        body,
        "s3cret-key",
      ),
      { ok: true, provider: "github", deliveryId: "d1" },
    );
    assert.deepStrictEqual(
      verifyPushRequest({ "x-gitlab-token": "s3cret-key" }, body, "s3cret-key"),
      { ok: true, provider: "gitlab" },
    );
    assert.equal(verifyPushRequest({}, body, "s3cret-key").ok, false);
  });

  it("should remember delivery ids, forgetting the oldest beyond its capacity", () => {
    const ledger = new DeliveryLedger(2);
    assert.equal(ledger.firstTime("a"), true);
    assert.equal(ledger.firstTime("a"), false);
    ledger.firstTime("b");
    ledger.firstTime("c");
    assert.equal(ledger.firstTime("a"), true);
  });
});

describe("push webhook receiver", () => {
  async function receiver(maxBodyBytes?: number) {
    let pushes = 0;
    const r = new WebhookReceiver({
      listen: "127.0.0.1:0",
      secret: "It's a Secret to Everybody",
      ...(maxBodyBytes !== undefined && { maxBodyBytes }),
      onPush: () => pushes++,
      log: quiet,
    });
    receivers.push(r);
    const { port } = await r.start();
    const post = (body: string, headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${port}/`, { method: "POST", body, headers }).then(
        (res) => res.status,
      );
    return { post, pushes: () => pushes };
  }

  it("should answer 202 and fetch for a signed push, 401 for a bad one, 409 for a replay", async () => {
    const { secret, payload, header } = await githubVector();
    const r = await receiver();
    assert.equal(secret, "It's a Secret to Everybody");
    const signed = { "x-hub-signature-256": header, "x-github-delivery": "72d3162e" };
    assert.equal(await r.post(payload, { "x-hub-signature-256": `${header.slice(0, -1)}0` }), 401);
    assert.equal(await r.post(payload, {}), 401);
    assert.equal(r.pushes(), 0, "a rejected request changes nothing");
    assert.equal(await r.post(payload, signed), 202);
    assert.equal(r.pushes(), 1);
    assert.equal(await r.post(payload, signed), 409);
    assert.equal(r.pushes(), 1);
  });

  it("should fail with CRW_WEBHOOK_LISTEN when the address is taken", async () => {
    const first = new WebhookReceiver({
      listen: "127.0.0.1:0",
      secret: "a-secret",
      onPush: () => undefined,
      log: quiet,
    });
    receivers.push(first);
    const { port } = await first.start();
    const second = new WebhookReceiver({
      listen: `127.0.0.1:${port}`,
      secret: "a-secret",
      onPush: () => undefined,
      log: quiet,
    });
    await assert.rejects(second.start(), { code: "CRW_WEBHOOK_LISTEN" });
  });

  it("should refuse a body over the limit with 413", async () => {
    const r = await receiver(16);
    assert.equal(await r.post("x".repeat(17), { "x-gitlab-token": "whatever" }), 413);
    assert.equal(r.pushes(), 0);
  });
});
