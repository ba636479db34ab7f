import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { JsonObject } from "../model/json.js";
import { canonicalize, splitDottedPath } from "./canonicalize.js";
import { stableStringify } from "./stable-json.js";

describe("canonicalize", () => {
  const live = {
    kind: "HTTPRoute",
    apiVersion: "gateway.networking.k8s.io/v1",
    metadata: {
      name: "r",
      namespace: "shop",
      uid: "123",
      resourceVersion: "99",
      generation: 4,
      creationTimestamp: "2026-01-01T00:00:00Z",
      managedFields: [{ manager: "kubectl" }],
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": '{"secret":1}' },
      labels: { app: "shop" },
    },
    spec: { hostnames: ["a"] },
    status: { parents: [] },
  };

  it("should drop server-set metadata, last-applied and status", () => {
    assert.deepStrictEqual(canonicalize(live), {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { labels: { app: "shop" }, name: "r", namespace: "shop" },
      spec: { hostnames: ["a"] },
    });
  });

  it("should sort keys so equal configurations serialize identically", () => {
    const a = JSON.stringify(canonicalize({ b: 1, a: { d: 2, c: 3 } } as never));
    const b = JSON.stringify(canonicalize({ a: { c: 3, d: 2 }, b: 1 } as never));
    assert.equal(a, b);
  });

  it("should keep status when asked and drop extra ignore paths", () => {
    const out = canonicalize(live, {
      keepStatus: true,
      ignorePaths: ["metadata.labels.app", "spec.hostnames[0]"],
    });
    assert.deepStrictEqual(out.status, { parents: [] });
    assert.deepStrictEqual(out.metadata, { labels: {}, name: "r", namespace: "shop" });
    assert.deepStrictEqual(out.spec, { hostnames: [] });
  });

  it("should not modify its input", () => {
    const copy = structuredClone(live);
    canonicalize(live);
    assert.deepStrictEqual(live, copy);
  });

  it("should split dotted paths with quoted keys and indexes", () => {
    assert.deepStrictEqual(splitDottedPath('metadata.annotations["a.b/c"].x[2]'), [
      "metadata",
      "annotations",
      "a.b/c",
      "x",
      "2",
    ]);
  });

  it("should equal the sorted-key form of any object without server fields, and be idempotent", () => {
    const key = fc
      .string({ maxLength: 5 })
      .filter((k) => !["metadata", "status", "__proto__"].includes(k));
    const value = fc
      .jsonValue({ maxDepth: 3 })
      .map((v) => JSON.parse(JSON.stringify(v), (k, x) => (k === "__proto__" ? undefined : x)));
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 8 }), (obj) => {
        const once = canonicalize(obj as JsonObject);
        assert.equal(JSON.stringify(once), stableStringify(obj));
        assert.equal(JSON.stringify(canonicalize(once)), JSON.stringify(once));
      }),
      { numRuns: 1000, seed: 20261130 },
    );
  });
});
