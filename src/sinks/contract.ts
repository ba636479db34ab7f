import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Change } from "../model/change.js";
import type { Sink } from "./sink.js";

/** What a sink's test gives the shared suite: a sink, and a way to see what arrived. */
export interface SinkUnderTest {
  sink: Sink;
  /** Seqs of the changes the destination holds, in arrival order. */
  delivered(): Promise<number[]>;
  /**
   * The de-duplication ids the destination received (`webhook-id`, `Nats-Msg-Id`, AMQP
   * messageId), in arrival order; destinations with no id field leave it out.
   */
  receivedIds?(): Promise<string[]>;
  /** A sink of the same config whose destination fails every write. */
  broken: Sink;
  cleanup(): Promise<void>;
}

export function sampleChange(seq: number): Change {
  return {
    id: `${seq}`.padStart(32, "0"),
    seq,
    type: "MODIFIED",
    ref: {
      source: "s",
      group: "gateway.networking.k8s.io",
      kind: "HTTPRoute",
      namespace: "shop",
      name: `r${seq}`,
    },
    revision: 2,
    previousRevision: 1,
    actor: null,
    cause: null,
    location: { path: "/cfg/r.yaml", line: 3 },
    observedAt: "2026-11-26T08:00:00.000Z",
    committedAt: "2026-11-26T08:00:00.010Z",
    patch: [{ op: "replace", path: "/spec/rules/0/backendRefs/0/weight", value: 0 }],
    summary: ["spec.rules[0].backendRefs[0].weight: 90 → 0"],
    findings: [],
    notice: null,
    contentHash: "c".repeat(64),
    hash: "h".repeat(64),
    prevHash: "p".repeat(64),
  };
}

/** A signal that never aborts. */
function live(): AbortSignal {
  return new AbortController().signal;
}

/** The behaviour every sink shares, whatever its destination (see Vector's compliance tests). */
export function sinkContract(name: string, make: () => Promise<SinkUnderTest>): void {
  describe(`sink contract: ${name}`, () => {
    it("should deliver every change of each batch, in order", async () => {
      const t = await make();
      try {
        await t.sink.deliver([sampleChange(1), sampleChange(2)], live());
        await t.sink.deliver([sampleChange(3)], live());
        assert.deepStrictEqual(await t.delivered(), [1, 2, 3]);
      } finally {
        await t.sink.close();
        await t.cleanup();
      }
    });

    it("should reject when its destination fails, so the dispatcher retries", async () => {
      const t = await make();
      try {
        // Either form tells the dispatcher to retry: a throw, or a non-delivered outcome.
        const outcomes = await t.broken.deliver([sampleChange(1)], live()).catch(() => null);
        assert.ok(outcomes === null || outcomes.every((o) => o.status !== "delivered"));
      } finally {
        await t.broken.close();
        await t.cleanup();
      }
    });

    it("should return one outcome per change, in the order given", async () => {
      const t = await make();
      try {
        const changes = [sampleChange(1), sampleChange(2), sampleChange(3)];
        const outcomes = await t.sink.deliver(changes, live());
        assert.equal(outcomes.length, changes.length);
        assert.ok(outcomes.every((o) => o.status === "delivered"));
      } finally {
        await t.sink.close();
        await t.cleanup();
      }
    });

    it("should carry each change's stable id to the destination, the same on redelivery", async (ctx) => {
      const t = await make();
      try {
        if (!t.receivedIds) {
          ctx.skip("this destination has no id field");
          return;
        }
        await t.sink.deliver([sampleChange(1), sampleChange(2)], live());
        await t.sink.deliver([sampleChange(1)], live());
        const ids = await t.receivedIds();
        const expected = [sampleChange(1).id, sampleChange(2).id];
        // A destination that de-duplicates by id (JetStream) may hold the redelivery once.
        assert.deepStrictEqual(ids.slice(0, 2), expected);
        assert.ok(ids.slice(2).every((id) => id === expected[0]));
      } finally {
        await t.sink.close();
        await t.cleanup();
      }
    });

    it("should close more than once without error", async () => {
      const t = await make();
      await t.sink.close();
      await t.sink.close();
      await t.cleanup();
    });
  });
}
