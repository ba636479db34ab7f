import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMasker } from "../core/mask.js";
import type { JsonObject } from "../model/json.js";
import { CONTINUE, type Kernel, runUpserts, type UpsertJob } from "./build-kernel.js";
import { InlineRunner, slicesByRef } from "./build-pool.js";

const kernel: Kernel = {
  masker: createMasker({ key: Buffer.from("p".repeat(32)) }),
  canonicalize: {},
  rules: () => [],
};

function object(name: string, weight: number): JsonObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: "a" },
    spec: { rules: [{ backendRefs: [{ name: "v1", weight }] }] },
  };
}

/**
 * `count` upserts over `refs` refs, round robin: each ref's first job is an ADDED, every later
 * one CONTINUEs the previous, so a ref's jobs depend on each other across the batch.
 */
function jobs(count: number, refs: number): UpsertJob[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `r${i % refs}`;
    const ref = { source: "s", group: "g", kind: "HTTPRoute", namespace: "a", name };
    return {
      key: name,
      ref,
      object: object(name, Math.floor(i / refs) % 3),
      headHash: null,
      before: i < refs ? null : CONTINUE,
      actor: null,
      cause: null,
      observedAt: "2026-01-01T00:00:00.000Z",
    };
  });
}

describe("slicesByRef", () => {
  it("keeps every job of a ref in the slice of its first, in order, and each job once", () => {
    const batch = jobs(200, 50);
    const slices = slicesByRef(batch, 32);
    assert.deepEqual(
      slices.flat().sort((a, b) => a - b),
      batch.map((_, i) => i),
    );
    for (const slice of slices) {
      assert.deepEqual(
        slice,
        [...slice].sort((a, b) => a - b),
      );
    }
    const sliceOfKey = new Map<string, number>();
    slices.forEach((slice, s) => {
      for (const i of slice) {
        const key = (batch[i] as UpsertJob).key;
        assert.equal(sliceOfKey.get(key) ?? s, s, `${key} is in one slice`);
        sliceOfKey.set(key, s);
      }
    });
    // 50 refs, at most 32 new refs a slice: two slices.
    assert.equal(slices.length, 2);
  });

  it("returns no slice for no job", () => {
    assert.deepEqual(slicesByRef([], 32), []);
  });
});

describe("InlineRunner", () => {
  it("builds a batch larger than a slice as one runUpserts call does, CONTINUEs included", async () => {
    const batch = jobs(300, 70);
    const whole = runUpserts(kernel, batch);
    const sliced = await new InlineRunner(kernel).run(batch);
    assert.deepEqual(sliced, whole);
    // Round robin over three weights: every later job of a ref changes it.
    assert.ok(sliced.every((r) => r.changed));
  });
});
