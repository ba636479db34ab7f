import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { tempDir, waitFor } from "../../test/helpers.js";
import type { Change, NewChange } from "../model/change.js";
import { openSqliteStore } from "../store/sqlite/store.js";
import type { Store } from "../store/store.js";
import { Dispatcher } from "./dispatcher.js";
import type { Sink } from "./sink.js";

function added(name: string): NewChange {
  return {
    type: "ADDED",
    ref: { source: "s", group: "", kind: "ConfigMap", namespace: "ns", name },
    revision: 1,
    previousRevision: null,
    actor: null,
    cause: null,
    location: null,
    observedAt: new Date().toISOString(),
    patch: [{ op: "add", path: "/data", value: { k: name } }],
    summary: [`data: (absent) → {"k":"${name}"}`],
    findings: [],
    notice: null,
    object: { data: { k: name } },
    contentHash: name.padEnd(64, "0"),
  };
}

/** A sink that records what it got and fails while `failing` says so. */
function recordingSink(name: string) {
  const got: Change[] = [];
  const state = { failing: 0, attempts: 0 };
  const sink: Sink = {
    name,
    type: "test",
    async deliver(changes) {
      state.attempts++;
      if (state.failing > 0) {
        state.failing--;
        throw new Error("receiver is down");
      }
      got.push(...changes);
    },
    async close() {},
  };
  return { sink, got, state };
}

const quiet = pino({ level: "silent" });
const fastRetry = { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 4 };

describe("Dispatcher", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: Store;
  before(async () => {
    dir = await tempDir();
    store = await openSqliteStore({ dir: dir.path });
    await store.commit({ changes: ["a", "b", "c"].map(added), cursors: [], resolvedProblems: [] });
  });
  after(async () => {
    await store.close();
    await dir.cleanup();
  });

  it("should deliver the log in seq order and resume after its stored cursor", async () => {
    const first = recordingSink("resume");
    let dispatcher = new Dispatcher({
      store,
      targets: [{ sink: first.sink }],
      log: quiet,
      pollIntervalMs: 10,
    });
    dispatcher.start();
    await waitFor(() => first.got.length === 3, 5000, "3 deliveries");
    await dispatcher.stop();
    assert.deepStrictEqual(
      first.got.map((c) => c.seq),
      [1, 2, 3],
    );
    assert.equal(await store.getConsumerCursor("sink:resume"), 3);

    await store.commit({ changes: [added("d")], cursors: [], resolvedProblems: [] });
    const second = recordingSink("resume");
    dispatcher = new Dispatcher({
      store,
      targets: [{ sink: second.sink }],
      log: quiet,
      pollIntervalMs: 10,
    });
    dispatcher.start();
    await dispatcher.stop({ drain: true });
    assert.deepStrictEqual(
      second.got.map((c) => c.ref.name),
      ["d"],
      "only what came after the cursor",
    );
  });

  it("should retry a failing sink with back-off and deliver once it recovers", async () => {
    const flaky = recordingSink("flaky");
    flaky.state.failing = 2;
    const dispatcher = new Dispatcher({
      store,
      targets: [{ sink: flaky.sink }],
      log: quiet,
      retry: fastRetry,
      pollIntervalMs: 10,
    });
    dispatcher.start();
    await waitFor(() => flaky.got.length === 4, 5000, "delivery after recovery");
    await dispatcher.stop();
    assert.equal(flaky.state.attempts, 3);
    assert.deepStrictEqual(await store.listDeadLetters("sink:flaky"), []);
  });

  it("should dead-letter a batch after the last attempt and move on", async () => {
    const broken = recordingSink("broken");
    broken.state.failing = fastRetry.maxAttempts;
    const dispatcher = new Dispatcher({
      store,
      targets: [{ sink: broken.sink }],
      log: quiet,
      retry: fastRetry,
      pollIntervalMs: 10,
    });
    dispatcher.start();
    await waitFor(
      async () => (await store.getConsumerCursor("sink:broken")) === 4,
      5000,
      "cursor past the batch",
    );
    await store.commit({ changes: [added("e")], cursors: [], resolvedProblems: [] });
    dispatcher.wake();
    await waitFor(() => broken.got.length === 1, 5000, "the next change delivered");
    await dispatcher.stop();
    const letters = await store.listDeadLetters("sink:broken");
    assert.deepStrictEqual(
      letters.map((l) => [l.seq, l.attempts, l.error]),
      [
        [1, 4, "receiver is down"],
        [2, 4, "receiver is down"],
        [3, 4, "receiver is down"],
        [4, 4, "receiver is down"],
      ],
    );
    assert.equal(broken.got[0]?.ref.name, "e");
  });

  it("should keep the cursor when stopped during retries, so nothing is lost", async () => {
    const down = recordingSink("down");
    down.state.failing = Number.POSITIVE_INFINITY;
    const dispatcher = new Dispatcher({
      store,
      targets: [{ sink: down.sink }],
      log: quiet,
      retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAttempts: 100 },
    });
    dispatcher.start();
    await waitFor(() => down.state.attempts >= 1, 5000, "a first attempt");
    await dispatcher.stop();
    assert.equal(await store.getConsumerCursor("sink:down"), 0);
  });

  it("should skip types a sink does not want, and still move its cursor past them", async () => {
    const errorsOnly = recordingSink("errors-only");
    const dispatcher = new Dispatcher({
      store,
      targets: [{ sink: errorsOnly.sink, types: ["ERROR"] }],
      log: quiet,
    });
    dispatcher.start();
    await dispatcher.stop({ drain: true });
    assert.equal(errorsOnly.got.length, 0);
    assert.equal(await store.getConsumerCursor("sink:errors-only"), await store.lastSeq());
  });
});
