import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import pino from "pino";
import { tempDir } from "../../test/helpers.js";
import { FakeClock } from "../core/clock.js";
import type { Change, NewChange } from "../model/change.js";
import { openSqliteStore } from "../store/sqlite/store.js";
import type { Store } from "../store/store.js";
import { Dispatcher, type DispatchTarget } from "./dispatcher.js";
import type { SinkPolicy } from "./policy.js";
import type { DeliveryOutcome, Sink } from "./sink.js";

/** A change of ConfigMap `ref` (its `revision`-th), carrying `label` in its data. */
function changeOf(ref: string, revision: number, label = `${ref}${revision}`): NewChange {
  return {
    type: revision === 1 ? "ADDED" : "MODIFIED",
    ref: { source: "s", group: "", kind: "ConfigMap", namespace: "ns", name: ref },
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

type Decide = (change: Change, attempt: number) => DeliveryOutcome | "hang";

/** A sink that records what it delivered; `decide` says what happens to each change. */
function scriptedSink(name: string, decide: Decide = () => ({ status: "delivered" })) {
  const delivered: string[] = [];
  const attempts = new Map<string, number>();
  const calls: string[][] = [];
  const sink: Sink = {
    name,
    type: "test",
    async deliver(changes, signal) {
      calls.push(changes.map(labelOf));
      const outcomes: DeliveryOutcome[] = [];
      for (const change of changes) {
        const label = labelOf(change);
        const attempt = (attempts.get(label) ?? 0) + 1;
        attempts.set(label, attempt);
        const outcome = decide(change, attempt);
        if (outcome === "hang") {
          // Never answers; only the dispatcher's timeout ends the wait.
          await new Promise((_, reject) => signal.addEventListener("abort", reject));
          throw new Error("unreachable");
        }
        if (outcome.status === "delivered") delivered.push(label);
        outcomes.push(outcome);
      }
      return outcomes;
    },
    async close() {},
  };
  return { sink, delivered, attempts, calls };
}

function labelOf(change: Change): string {
  return change.summary[0]!.replace("data: ", "");
}

const quiet = pino({ level: "silent" });
const fast: Partial<SinkPolicy> = {
  initialDelayMs: 100,
  maxDelayMs: 1000,
  maxAttempts: 4,
  timeoutMs: 5000,
};

describe("Dispatcher", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: Store;
  let clock: FakeClock;
  const dispatchers: Dispatcher[] = [];

  beforeEach(async () => {
    dir = await tempDir();
    store = await openSqliteStore({ dir: dir.path });
    clock = new FakeClock();
  });
  afterEach(async () => {
    for (const d of dispatchers.splice(0)) await d.stop({ drain: false });
    await store.close();
    await dir.cleanup();
  });

  async function commit(...changes: NewChange[]): Promise<void> {
    await store.commit({ changes, cursors: [], resolvedProblems: [] });
  }

  function start(target: DispatchTarget): Dispatcher {
    const dispatcher = new Dispatcher({
      store,
      targets: [target],
      log: quiet,
      clock,
      random: () => 1, // no jitter: the delays below are exact
    });
    dispatchers.push(dispatcher);
    dispatcher.start();
    return dispatcher;
  }

  async function cursorOf(sink: string): Promise<number> {
    return store.getConsumerCursor(`sink:${sink}`);
  }

  /** Moves fake time in 10 ms steps until an async condition holds. */
  async function until(check: () => Promise<boolean>, maxMs = 600_000): Promise<void> {
    for (let spent = 0; !(await check()); spent += 10) {
      if (spent > maxMs) throw new Error("condition not reached");
      await clock.advance(10);
    }
  }

  it("should deliver the log in seq order and resume after its stored cursor", async () => {
    await commit(changeOf("a", 1), changeOf("b", 1), changeOf("c", 1));
    const first = scriptedSink("out");
    const d1 = start({ sink: first.sink, policy: fast });
    await clock.advanceUntil(() => first.delivered.length === 3);
    await d1.stop();
    assert.deepEqual(first.delivered, ["a1", "b1", "c1"]);
    assert.equal(await cursorOf("out"), 3);

    await commit(changeOf("d", 1));
    const second = scriptedSink("out");
    start({ sink: second.sink, policy: fast });
    await clock.advanceUntil(() => second.delivered.length === 1);
    assert.deepEqual(second.delivered, ["d1"]);
  });

  it("should deliver offered changes from memory when caught up, reading nothing back", async () => {
    const reads: number[] = [];
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === "readChanges") {
          return (q: { afterSeq: number }) => {
            reads.push(q.afterSeq);
            return target.readChanges(q as Parameters<Store["readChanges"]>[0]);
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const out = scriptedSink("out");
    const delivered: Change[] = [];
    const dispatcher = new Dispatcher({
      store: counting,
      targets: [{ sink: out.sink, policy: fast }],
      log: quiet,
      clock,
      random: () => 1,
      onDelivered: (_sink, changes) => delivered.push(...changes),
    });
    dispatchers.push(dispatcher);
    dispatcher.start();
    await clock.advanceUntil(() => reads.length === 1); // the first look finds the log empty
    const committed = await store.commit({
      changes: [changeOf("a", 1), changeOf("b", 1)],
      cursors: [],
      resolvedProblems: [],
    });
    dispatcher.offer(committed);
    await clock.advanceUntil(() => out.delivered.length === 2);
    await until(async () => (await cursorOf("out")) === 2);
    assert.deepEqual(reads, [0], "no read after the offer");
    assert.deepEqual(out.delivered, ["a1", "b1"]);
    // What was handed over from memory is what the log holds.
    assert.deepEqual(delivered, await store.readChanges({ afterSeq: 0, limit: 10 }));
  });

  it("should read the log when a commit was not offered, keeping per-ref order", async () => {
    await commit(changeOf("a", 1));
    const out = scriptedSink("out");
    const dispatcher = start({ sink: out.sink, policy: fast });
    await until(async () => (await cursorOf("out")) === 1);
    await commit(changeOf("a", 2)); // committed, never offered
    const later = await store.commit({
      changes: [changeOf("b", 1)],
      cursors: [],
      resolvedProblems: [],
    });
    dispatcher.offer(later);
    await clock.advanceUntil(() => out.delivered.length === 3);
    assert.deepEqual(out.delivered, ["a1", "a2", "b1"]);
    await until(async () => (await cursorOf("out")) === 3);
  });

  it("should give every change the same stable id on every redelivery", async () => {
    await commit(changeOf("a", 1));
    const ids: string[] = [];
    const flaky = scriptedSink("out", (change, attempt) => {
      ids.push(change.id);
      return attempt < 3 ? { status: "retry", error: "HTTP 503" } : { status: "delivered" };
    });
    start({ sink: flaky.sink, policy: fast });
    await clock.advanceUntil(() => flaky.delivered.length === 1);
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 1);
    assert.equal(ids[0], (await store.getChange(1))?.id);
    assert.match(ids[0]!, /^[0-9a-f]{32}$/);
  });

  it("should back off exponentially between retries of a failing sink", async () => {
    await commit(changeOf("a", 1));
    const times: number[] = [];
    const down = scriptedSink("out", (_, attempt) => {
      times.push(clock.now());
      return attempt < 4 ? { status: "retry", error: "HTTP 500" } : { status: "delivered" };
    });
    start({ sink: down.sink, policy: { ...fast, maxAttempts: 10 } });
    await clock.advanceUntil(() => down.delivered.length === 1, 1);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.deepEqual(gaps, [100, 200, 400]);
  });

  it("should dead-letter one poisoned change of 500 alone, delivering the other 499 in order", async () => {
    const changes = Array.from({ length: 500 }, (_, i) => changeOf(`r${i}`, 1));
    await commit(...changes);
    const sink = scriptedSink("out", (change) =>
      change.ref.name === "r250"
        ? { status: "rejected", error: "HTTP 422: payload refused" }
        : { status: "delivered" },
    );
    start({ sink: sink.sink, policy: fast });
    await until(async () => (await cursorOf("out")) === 500);
    const expected = changes.map((_, i) => `r${i}1`).filter((label) => label !== "r2501");
    assert.deepEqual(sink.delivered, expected);
    const letters = await store.listDeadLetters();
    assert.deepEqual(
      letters.map((l) => [l.consumer, l.seq, l.error, l.attempts]),
      [["sink:out", 251, "HTTP 422: payload refused", 1]],
    );
    assert.equal(await cursorOf("out"), 500);
  });

  it("should not deliver a later change of a ref ahead of an earlier one still being retried", async () => {
    await commit(changeOf("a", 1), changeOf("b", 1));
    await commit(changeOf("a", 2), changeOf("c", 1));
    const sink = scriptedSink("out", (change, attempt) =>
      labelOf(change) === "a1" && attempt < 3
        ? { status: "retry", error: "HTTP 503" }
        : { status: "delivered" },
    );
    start({ sink: sink.sink, policy: fast });
    await clock.advanceUntil(() => sink.delivered.length === 4);
    // b1 and c1 went out while a1 was retried; a2 only after a1.
    assert.deepEqual(sink.delivered, ["b1", "c1", "a1", "a2"]);
  });

  it("should dead-letter a change after its last attempt, and then deliver the ref's next change", async () => {
    await commit(changeOf("a", 1), changeOf("a", 2));
    const sink = scriptedSink("out", (change) =>
      labelOf(change) === "a1" ? { status: "retry", error: "HTTP 500" } : { status: "delivered" },
    );
    start({ sink: sink.sink, policy: fast });
    await until(async () => (await cursorOf("out")) === 2);
    assert.equal(sink.attempts.get("a1"), 4);
    assert.deepEqual(sink.delivered, ["a2"]);
    const letters = await store.listDeadLetters({ consumer: "sink:out" });
    assert.deepEqual(
      letters.map((l) => [l.seq, l.attempts, l.error]),
      [[1, 4, "HTTP 500"]],
    );
  });

  it("should record a failing sink as degraded with its error, and ok again once it delivers", async () => {
    await commit(changeOf("a", 1));
    const sink = scriptedSink("out", (_, attempt) =>
      attempt < 3 ? { status: "retry", error: "HTTP 503 from receiver" } : { status: "delivered" },
    );
    start({ sink: sink.sink, policy: fast });
    await until(async () => (await store.listSinkHealth())[0]?.status === "degraded");
    const [degraded] = await store.listSinkHealth();
    assert.equal(degraded?.sink, "out");
    assert.match(
      degraded?.message ?? "",
      /delivery failing \(seq 1, attempt 1\): HTTP 503 from receiver/,
    );
    await until(async () => (await store.listSinkHealth())[0]?.status === "ok");
    assert.deepEqual(await store.listSourceHealth(), [], "sink health is not source health");
  });

  it("should wait until a Retry-After time before trying again", async () => {
    await commit(changeOf("a", 1));
    const notBefore = clock.now() + 60_000;
    const sink = scriptedSink("out", (_, attempt) =>
      attempt === 1 ? { status: "retry", error: "HTTP 429", notBefore } : { status: "delivered" },
    );
    start({ sink: sink.sink, policy: fast });
    await clock.advanceUntil(() => sink.calls.length === 1);
    await clock.advance(59_000);
    assert.equal(sink.calls.length, 1);
    await clock.advanceUntil(() => sink.delivered.length === 1, 100);
    assert.ok(clock.now() >= notBefore);
  });

  it("should retry a sink that does not answer within its timeout", async () => {
    await commit(changeOf("a", 1));
    const sink = scriptedSink("out", (_, attempt) =>
      attempt === 1 ? "hang" : { status: "delivered" },
    );
    start({ sink: sink.sink, policy: { ...fast, timeoutMs: 1000 } });
    await clock.advanceUntil(() => sink.calls.length === 1);
    await clock.advance(999);
    assert.equal(sink.calls.length, 1);
    await clock.advanceUntil(() => sink.delivered.length === 1);
    assert.equal(sink.attempts.get("a1"), 2);
  });

  it("should keep the cursor when stopped during retries, so nothing is lost", async () => {
    await commit(changeOf("a", 1));
    const sink = scriptedSink("out", () => ({ status: "retry", error: "HTTP 500" }));
    const dispatcher = start({ sink: sink.sink, policy: { ...fast, maxAttempts: 100 } });
    await clock.advanceUntil(() => sink.calls.length === 2);
    await dispatcher.stop({ drain: true });
    assert.equal(await cursorOf("out"), 0);
    assert.deepEqual(await store.listDeadLetters(), []);
  });

  it("should skip changes its filter does not want, and still move its cursor past them", async () => {
    await commit(changeOf("a", 1), changeOf("a", 2), changeOf("b", 1));
    const sink = scriptedSink("out");
    start({ sink: sink.sink, policy: { ...fast, filter: { types: ["MODIFIED"] } } });
    await until(async () => (await cursorOf("out")) === 3);
    assert.deepEqual(sink.delivered, ["a2"]);
    assert.equal(await cursorOf("out"), 3);
  });

  it("should hold to its rate limit", async () => {
    await commit(...Array.from({ length: 30 }, (_, i) => changeOf(`r${i}`, 1)));
    const sink = scriptedSink("out");
    const started = clock.now();
    start({ sink: sink.sink, policy: { ...fast, batchSize: 10, ratePerSecond: 10 } });
    await clock.advanceUntil(() => sink.delivered.length === 30, 50);
    // The first 10 go at once (a full bucket), then 10 per second.
    assert.ok(clock.now() - started >= 2000, `took ${clock.now() - started} ms`);
  });

  it("should deliver a requeued dead letter and remove it", async () => {
    await commit(changeOf("a", 1));
    let healthy = false;
    const sink = scriptedSink("out", () =>
      healthy ? { status: "delivered" } : { status: "rejected", error: "HTTP 400" },
    );
    start({ sink: sink.sink, policy: fast });
    await until(async () => (await cursorOf("out")) === 1);
    assert.equal((await store.listDeadLetters()).length, 1);
    healthy = true;
    assert.equal(await store.requeueDeadLetters({ consumer: "sink:out" }), 1);
    await until(async () => (await store.listDeadLetters()).length === 0);
    assert.deepEqual(sink.delivered, ["a1"]);
  });
});
