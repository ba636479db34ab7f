import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import pino from "pino";
import { tempDir, waitFor } from "../../../test/helpers.js";
import { type Receiver, startReceiver } from "../../../test/sinks/receiver.js";
import { verifyStandardWebhook } from "../../../test/sinks/verify-webhook.js";
import { systemClock } from "../../core/clock.js";
import type { Change, NewChange } from "../../model/change.js";
import { refKey } from "../../model/ref.js";
import { openSqliteStore } from "../../store/sqlite/store.js";
import type { Store } from "../../store/store.js";
import { Dispatcher } from "../dispatcher.js";
import type { SinkPolicy } from "../policy.js";
import { createWebhookSink } from "./sink.js";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const quiet = pino({ level: "silent" });
/** Real time, tiny backoff: the receiver's failures are what is tested, not the delays. */
const policy: Partial<SinkPolicy> = {
  batchSize: 4,
  initialDelayMs: 1,
  maxDelayMs: 5,
  maxAttempts: 1000,
  timeoutMs: 10_000,
};

function changeOf(name: string, revision: number): NewChange {
  const label = `${name}${revision}`;
  return {
    type: revision === 1 ? "ADDED" : "MODIFIED",
    ref: { source: "s", group: "", kind: "ConfigMap", namespace: "ns", name },
    revision,
    previousRevision: revision === 1 ? null : revision - 1,
    actor: null,
    cause: null,
    location: null,
    observedAt: "2026-01-01T00:00:00.000Z",
    patch: [{ op: "add", path: "/data", value: { k: label } }],
    summary: [`data: ${label}`],
    findings: [],
    notice: null,
    object: { data: { k: label } },
    contentHash: label.padEnd(64, "0"),
  };
}

/** The events the receiver accepted (2xx), signature checked, as the changes they carry. */
function accepted(receiver: Receiver): Change[] {
  return receiver.requests
    .filter((r) => r.status < 300)
    .map((r) => {
      assert.ok(verifyStandardWebhook(SECRET, r.headers, r.body), "signature verifies");
      const event = JSON.parse(r.body) as { id: string; data: Change };
      assert.equal(r.headers["webhook-id"], event.id);
      assert.equal(event.id, event.data.id);
      return event.data;
    });
}

/** First arrival of each id, as a receiver de-duplicating by id keeps them. */
function deduplicated(changes: Change[]): Change[] {
  const seen = new Set<string>();
  return changes.filter((c) => !seen.has(c.id) && seen.add(c.id));
}

function assertPerRefOrder(changes: Change[]): void {
  const last = new Map<string, number>();
  for (const c of changes) {
    const key = refKey(c.ref);
    assert.ok((last.get(key) ?? 0) < c.seq, `seq ${c.seq} of ${c.ref.name} came after a later one`);
    last.set(key, c.seq);
  }
}

describe("webhook delivery through the dispatcher", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: Store;
  let receiver: Receiver;
  const dispatchers: Dispatcher[] = [];

  beforeEach(async () => {
    dir = await tempDir();
    store = await openSqliteStore({ dir: dir.path });
    receiver = await startReceiver();
  });
  afterEach(async () => {
    for (const d of dispatchers.splice(0)) await d.stop({ drain: false });
    await receiver.close();
    await store.close();
    await dir.cleanup();
  });

  function start(log = quiet): Dispatcher {
    const sink = createWebhookSink(
      { name: "hook", type: "webhook", url: receiver.url, secret: SECRET },
      systemClock,
    );
    const dispatcher = new Dispatcher({
      store,
      targets: [{ sink, policy }],
      log,
      pollIntervalMs: 20,
    });
    dispatchers.push(dispatcher);
    dispatcher.start();
    return dispatcher;
  }

  it("should get every change to a receiver that fails for a while, in order per ref, ids stable", async () => {
    const committed = await store.commit({
      changes: [
        changeOf("a", 1),
        changeOf("b", 1),
        changeOf("a", 2),
        changeOf("c", 1),
        changeOf("b", 2),
        changeOf("a", 3),
        changeOf("c", 2),
        changeOf("b", 3),
      ],
      cursors: [],
      resolvedProblems: [],
    });
    // Six failures of every kind that means "later", then the receiver recovers.
    receiver.answer = (n) =>
      n === 1
        ? { status: 429, headers: { "retry-after": "1" } }
        : n === 2
          ? { status: 503 }
          : n <= 6
            ? { status: 500 }
            : { status: 200 };
    start();
    await waitFor(
      () => deduplicated(accepted(receiver)).length === committed.length,
      30_000,
      "every change to arrive",
    );
    const got = deduplicated(accepted(receiver));
    assert.deepStrictEqual(got.map((c) => c.id).sort(), committed.map((c) => c.id).sort());
    assertPerRefOrder(
      accepted(receiver).filter((_, i, all) => all.findIndex((c) => c.id === all[i]!.id) === i),
    );
    assertPerRefOrder(got);
    assert.equal(await store.getConsumerCursor("sink:hook"), committed.at(-1)!.seq);
    assert.deepStrictEqual(await store.listDeadLetters(), []);
  });

  it("should resume from its cursor after a restart: nothing lost, repeats keep their id", async () => {
    const first = await store.commit({
      changes: ["a", "b", "c", "d", "e", "f"].map((n) => changeOf(n, 1)),
      cursors: [],
      resolvedProblems: [],
    });
    // Three arrive, then the receiver fails: the dispatcher is stopped mid-batch, retrying.
    receiver.answer = (n) => ({ status: n <= 3 ? 200 : 500 });
    const d1 = start();
    await waitFor(() => receiver.requests.length >= 5, 20_000, "a first part to arrive");
    await d1.stop({ drain: false });
    const cursorAtStop = await store.getConsumerCursor("sink:hook");
    const beforeRestart = accepted(receiver).length;
    assert.ok(cursorAtStop < first.at(-1)!.seq, "stopped before the end of the log");
    receiver.answer = () => ({ status: 200 });

    const second = await store.commit({
      changes: [changeOf("a", 2), changeOf("g", 1)],
      cursors: [],
      resolvedProblems: [],
    });
    start();
    const all = [...first, ...second];
    await waitFor(
      () => deduplicated(accepted(receiver)).length === all.length,
      20_000,
      "every change after the restart",
    );
    const got = accepted(receiver);
    assert.deepStrictEqual(
      deduplicated(got)
        .map((c) => c.id)
        .sort(),
      all.map((c) => c.id).sort(),
    );
    // Whatever came twice was after the stored cursor, and came with the same id.
    const afterRestart = got.slice(beforeRestart);
    for (const c of afterRestart)
      assert.ok(c.seq > cursorAtStop, `seq ${c.seq} was re-sent though acknowledged`);
    assertPerRefOrder(deduplicated(got));
  });

  it("should dead-letter everything once the endpoint answers 410, and log it once", async () => {
    const committed = await store.commit({
      changes: [changeOf("a", 1), changeOf("b", 1), changeOf("c", 1)],
      cursors: [],
      resolvedProblems: [],
    });
    receiver.answer = () => ({ status: 410 });
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
    start(log);
    await waitFor(
      async () => (await store.getConsumerCursor("sink:hook")) === committed.at(-1)!.seq,
      20_000,
      "the cursor to pass the dead letters",
    );
    assert.deepStrictEqual(
      (await store.listDeadLetters()).map((l) => l.seq),
      committed.map((c) => c.seq),
    );
    assert.equal(receiver.requests.length, 1, "a gone endpoint is asked once");
    assert.equal(lines.filter((l) => l.includes("destination is disabled")).length, 1);
  });
});
