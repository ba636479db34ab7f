import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { tempDir } from "../../test/helpers.js";
import { sha256Hex } from "../core/stable-json.js";
import type { NewChange } from "../model/change.js";
import type { Ref } from "../model/ref.js";
import { refKey } from "../model/ref.js";
import { openSqliteStore } from "../store/sqlite/store.js";
import type { Store } from "../store/store.js";
import { SourceState } from "./head-cache.js";

const refOf = (name: string): Ref => ({
  source: "s",
  group: "",
  kind: "ConfigMap",
  namespace: "ns",
  name,
});

function added(name: string, value: string): NewChange {
  return {
    type: "ADDED",
    ref: refOf(name),
    revision: 1,
    previousRevision: null,
    actor: null,
    cause: null,
    location: null,
    observedAt: "2026-01-01T00:00:00.000Z",
    patch: [{ op: "add", path: "/data", value: { k: value } }],
    summary: [],
    findings: [],
    notice: null,
    object: { data: { k: value } },
    // The store checks what it reads back against the committed content hash.
    contentHash: sha256Hex(JSON.stringify({ data: { k: value } })),
  };
}

describe("SourceState object cache", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: Store;
  let reads: string[];
  let counting: Store;

  beforeEach(async () => {
    dir = await tempDir();
    store = await openSqliteStore({ dir: dir.path });
    await store.commit({
      changes: [added("a", "from-store-a"), added("b", "from-store-b")],
      cursors: [],
      resolvedProblems: [],
    });
    reads = [];
    counting = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === "getRevision")
          return (ref: Ref) => {
            reads.push(ref.name);
            return target.getRevision(ref);
          };
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  });
  afterEach(async () => {
    await store.close();
    await dir.cleanup();
  });

  it("should keep objects within its byte budget, evicting the least recently remembered", async () => {
    const a = JSON.stringify({ data: { k: "cached-a" } });
    const b = JSON.stringify({ data: { k: "cached-b" } });
    const state = new SourceState(counting, a.length + b.length);
    state.rememberObject(refKey(refOf("a")), a);
    state.rememberObject(refKey(refOf("b")), b);
    assert.deepEqual(await state.latestObject(refKey(refOf("a")), refOf("a")), JSON.parse(a));
    assert.deepEqual(reads, [], "both fit");
    // One byte more than the budget: the oldest (a) goes, b stays.
    state.rememberObject(refKey(refOf("b")), `${b} `);
    state.rememberObject(refKey(refOf("c")), "{}");
    assert.deepEqual(await state.latestObject(refKey(refOf("a")), refOf("a")), {
      data: { k: "from-store-a" },
    });
    assert.deepEqual(reads, ["a"]);
  });

  it("should read every object from the store when its budget is 0", async () => {
    const state = new SourceState(counting, 0);
    state.rememberObject(refKey(refOf("b")), JSON.stringify({ data: { k: "cached-b" } }));
    assert.deepEqual(await state.latestObject(refKey(refOf("b")), refOf("b")), {
      data: { k: "from-store-b" },
    });
    assert.deepEqual(reads, ["b"]);
  });

  it("should forget a deleted ref's object", async () => {
    const state = new SourceState(counting, 1024);
    state.rememberObject(refKey(refOf("a")), JSON.stringify({ data: { k: "cached-a" } }));
    state.rememberObject(refKey(refOf("a")), null);
    await state.latestObject(refKey(refOf("a")), refOf("a"));
    assert.deepEqual(reads, ["a"]);
  });

  it("should not keep an object at its first revision, and keep it once its ref changed", async () => {
    const state = new SourceState(counting, 1024);
    const key = refKey(refOf("b"));
    const head = { ref: refOf("b"), contentHash: "h", deleted: false, location: null };
    state.heads.set(key, { ...head, revision: 1 });
    state.rememberObject(key, JSON.stringify({ data: { k: "cached-b" } }));
    assert.equal(state.cachedJson(key), undefined, "just added: most objects never change");
    state.heads.set(key, { ...head, revision: 2 });
    state.rememberObject(key, JSON.stringify({ data: { k: "cached-b2" } }));
    assert.deepEqual(await state.latestObject(key, refOf("b")), { data: { k: "cached-b2" } });
    assert.deepEqual(reads, []);
  });
});
