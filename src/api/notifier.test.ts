import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, it } from "node:test";
import pino from "pino";
import { FakeClock } from "../core/clock.js";
import { pollingNotifier } from "./notifier.js";
import { buildApi } from "./server.js";
import { edits, type Fixture, fixture, TOKENS } from "./test-kit.js";

describe("pollingNotifier", () => {
  let fx: Fixture;
  beforeEach(async () => {
    fx = await fixture();
  });
  afterEach(() => fx.cleanup());

  it("should notify once the log's last seq moves, on the injected clock", async () => {
    const clock = new FakeClock();
    let calls = 0;
    const stop = pollingNotifier(fx.store, clock, 1000).subscribe(() => calls++);
    await clock.advance(0); // the first tick learns the current end
    await clock.advance(1000);
    assert.equal(calls, 0, "nothing committed: no notification");
    await fx.store.commit({ changes: edits("a", 1, 2), cursors: [], resolvedProblems: [] });
    await clock.advance(999);
    assert.equal(calls, 0);
    await clock.advance(1);
    assert.equal(calls, 1);
    await clock.advance(1000);
    assert.equal(calls, 1, "no further change: no further notification");
    stop();
    await fx.store.commit({ changes: edits("b", 1, 1), cursors: [], resolvedProblems: [] });
    await clock.advance(5000);
    assert.equal(calls, 1, "unsubscribed");
    assert.deepEqual(clock.pending(), []);
  });
});

describe("api logs", () => {
  let fx: Fixture;
  beforeEach(async () => {
    fx = await fixture();
  });
  afterEach(() => fx.cleanup());

  it("should log requests and failures without tokens or query strings", async () => {
    let output = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        output += chunk;
        done();
      },
    });
    fx.deps.logger = pino({ level: "debug" }, sink);
    fx.deps.store.readChanges = async () => {
      throw new Error("disk on fire");
    };
    const api = await buildApi(fx.deps);
    const res = await api.app.request("/api/v1/changes?ref=secret-query-value", {
      headers: { Authorization: `Bearer ${TOKENS.viewer}` },
    });
    assert.equal(res.status, 500);
    assert.equal(
      ((await res.json()) as { error: { code: string } }).error.code,
      "CRW_API_INTERNAL",
    );
    await api.app.request("/api/v1/whoami", {
      headers: { Authorization: "Bearer wrong-token-value-123" },
    });
    await api.close();
    assert.match(output, /disk on fire/);
    assert.match(output, /"route":"\/api\/v1\/changes"/);
    assert.doesNotMatch(output, new RegExp(TOKENS.viewer));
    assert.doesNotMatch(output, /wrong-token-value-123/);
    assert.doesNotMatch(output, /secret-query-value/);
  });
});
