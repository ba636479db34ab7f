import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { closedPort, type Receiver, startReceiver } from "../../../test/sinks/receiver.js";
import { verifyStandardWebhook } from "../../../test/sinks/verify-webhook.js";
import { FakeClock } from "../../core/clock.js";
import { CrwatchError } from "../../model/errors.js";
import { sampleChange, sinkContract } from "../contract.js";
import type { WebhookSinkConfig } from "./config.js";
import { createWebhookSink } from "./sink.js";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const NOW = Date.parse("2026-11-26T08:00:00.000Z");
const live = () => new AbortController().signal;

function config(url: string, extra: Partial<WebhookSinkConfig> = {}): WebhookSinkConfig {
  return { name: "hook", type: "webhook", url, secret: SECRET, ...extra };
}

/** Seqs of the events a receiver accepted whose signature verifies. */
function verifiedSeqs(receiver: Receiver, secret = SECRET): number[] {
  return receiver.requests
    .filter((r) => r.status < 300)
    .map((r) => {
      assert.ok(verifyStandardWebhook(secret, r.headers, r.body), "signature verifies");
      return (JSON.parse(r.body) as { data: { seq: number } }).data.seq;
    });
}

sinkContract("webhook to a real HTTP receiver", async () => {
  const receiver = await startReceiver();
  const port = await closedPort();
  const clock = new FakeClock(NOW);
  return {
    sink: createWebhookSink(config(receiver.url), clock),
    broken: createWebhookSink(config(`http://127.0.0.1:${port}/hook`), clock),
    delivered: async () => verifiedSeqs(receiver),
    receivedIds: async () => receiver.requests.map((r) => String(r.headers["webhook-id"])),
    cleanup: () => receiver.close(),
  };
});

describe("webhook sink", () => {
  let receiver: Receiver;
  const clock = new FakeClock(NOW);
  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => receiver.close());

  it("should POST a structured CloudEvent signed at the clock's time", async () => {
    const sink = createWebhookSink(config(receiver.url), clock);
    await sink.deliver([sampleChange(1)], live());
    const [request] = receiver.requests;
    assert.equal(request!.headers["content-type"], "application/cloudevents+json; charset=utf-8");
    assert.equal(request!.headers["webhook-id"], sampleChange(1).id);
    assert.equal(request!.headers["webhook-timestamp"], String(NOW / 1000));
    const event = JSON.parse(request!.body) as Record<string, unknown>;
    assert.equal(event.id, sampleChange(1).id);
    assert.equal(event.type, "dev.crwatch.change.modified");
    assert.equal(event.specversion, "1.0");
    assert.ok(verifyStandardWebhook(SECRET, request!.headers, request!.body));
  });

  it("should send binary mode with ce- headers and the change as the body", async () => {
    const sink = createWebhookSink(config(receiver.url, { mode: "binary" }), clock);
    await sink.deliver([sampleChange(2)], live());
    const [request] = receiver.requests;
    assert.equal(request!.headers["content-type"], "application/json");
    assert.equal(request!.headers["ce-id"], sampleChange(2).id);
    assert.equal(request!.headers["ce-specversion"], "1.0");
    assert.equal(request!.headers["ce-subject"], "s:HTTPRoute.gateway.networking.k8s.io%20shop/r2");
    assert.equal((JSON.parse(request!.body) as { seq: number }).seq, 2);
    assert.ok(verifyStandardWebhook(SECRET, request!.headers, request!.body));
  });

  it("should sign with both secrets during a rotation, so either receiver key verifies", async () => {
    const sink = createWebhookSink(config(receiver.url, { secret: [SECRET, OLD_SECRET] }), clock);
    await sink.deliver([sampleChange(1)], live());
    const [request] = receiver.requests;
    assert.equal(String(request!.headers["webhook-signature"]).split(" ").length, 2);
    assert.ok(verifyStandardWebhook(SECRET, request!.headers, request!.body));
    assert.ok(verifyStandardWebhook(OLD_SECRET, request!.headers, request!.body));
  });

  it("should retry on 500, and not send the rest of the batch to a failing endpoint", async () => {
    receiver.answer = () => ({ status: 500 });
    const sink = createWebhookSink(config(receiver.url), clock);
    const outcomes = await sink.deliver([sampleChange(1), sampleChange(2)], live());
    assert.deepStrictEqual(
      outcomes.map((o) => o.status),
      ["retry", "retry"],
    );
    assert.equal(receiver.requests.length, 1);
    assert.equal(sink.health?.().lastError, "HTTP 500");
  });

  it("should retry after the Retry-After of a 429 (seconds) and a 503 (HTTP-date)", async () => {
    receiver.answer = (n) =>
      n === 1
        ? { status: 429, headers: { "retry-after": "30" } }
        : { status: 503, headers: { "retry-after": new Date(NOW + 90_000).toUTCString() } };
    const sink = createWebhookSink(config(receiver.url), clock);
    const [first] = await sink.deliver([sampleChange(1)], live());
    assert.deepStrictEqual(first, { status: "retry", error: "HTTP 429", notBefore: NOW + 30_000 });
    const [second] = await sink.deliver([sampleChange(1)], live());
    assert.deepStrictEqual(second, { status: "retry", error: "HTTP 503", notBefore: NOW + 90_000 });
  });

  it("should reject a change the receiver refuses with 400 and go on with the next", async () => {
    receiver.answer = (n) => ({ status: n === 1 ? 400 : 200 });
    const sink = createWebhookSink(config(receiver.url), clock);
    const outcomes = await sink.deliver([sampleChange(1), sampleChange(2)], live());
    assert.deepStrictEqual(outcomes, [
      { status: "rejected", error: "HTTP 400" },
      { status: "delivered" },
    ]);
  });

  it("should disable the endpoint on 410: everything after is rejected, health says so", async () => {
    receiver.answer = () => ({ status: 410 });
    const sink = createWebhookSink(config(receiver.url), clock);
    const outcomes = await sink.deliver([sampleChange(1), sampleChange(2)], live());
    assert.deepStrictEqual(
      outcomes.map((o) => o.status),
      ["rejected", "rejected"],
    );
    const later = await sink.deliver([sampleChange(3)], live());
    assert.equal(later[0]!.status, "rejected");
    assert.equal(receiver.requests.length, 1, "a disabled endpoint gets no more requests");
    assert.equal(sink.health?.().disabled, true);
    assert.match(sink.health?.().lastError ?? "", /410.*disabled/);
  });

  it("should retry when nothing listens, without the URL or secret in the error", async () => {
    const port = await closedPort();
    const sink = createWebhookSink(config(`http://127.0.0.1:${port}/s3cr3t-path`), clock);
    const [outcome] = await sink.deliver([sampleChange(1)], live());
    assert.equal(outcome!.status, "retry");
    const error = outcome!.status === "retry" ? outcome!.error : "";
    assert.match(error, /ECONNREFUSED/);
    assert.doesNotMatch(error, /s3cr3t|whsec/);
  });

  it("should throw when the dispatcher aborts (timeout), so every change is retried", async () => {
    receiver.answer = () => ({ status: 200 });
    const sink = createWebhookSink(config(receiver.url), clock);
    const abort = new AbortController();
    abort.abort(new Error("timeout"));
    await assert.rejects(sink.deliver([sampleChange(1)], abort.signal));
  });

  it("should refuse a malformed secret at creation with CRW_SINK_CONFIG", () => {
    assert.throws(
      () => createWebhookSink(config(receiver.url, { secret: "whsec_short" }), clock),
      (err: unknown) => err instanceof CrwatchError && err.code === "CRW_SINK_CONFIG",
    );
  });
});
