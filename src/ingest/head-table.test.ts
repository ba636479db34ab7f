import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Ref } from "../model/ref.js";
import { refKey } from "../model/ref.js";
import type { Head } from "../store/store.js";
import { HeadTable } from "./head-table.js";

const ref = (name: string): Ref => ({
  source: "s",
  group: "gateway.networking.k8s.io",
  kind: "HTTPRoute",
  namespace: "ns",
  // Names may hold any character: the key is JSON, so they come back as they were.
  name,
});

describe("HeadTable", () => {
  it("should give back each head as it was set, and forget deleted keys", () => {
    const table = new HeadTable();
    const heads: Head[] = [
      { ref: ref("a"), revision: 3, contentHash: "ab".repeat(32), deleted: false, location: null },
      {
        ref: ref('b "quoted" \u0000 ✓'),
        revision: 7,
        contentHash: null,
        deleted: true,
        location: { path: "/cfg/b.yaml", line: 4, document: 1 },
      },
    ];
    for (const head of heads) table.set(refKey(head.ref), head);
    assert.equal(table.size, 2);
    for (const head of heads) assert.deepEqual(table.get(refKey(head.ref)), head);
    assert.deepEqual(
      [...table.keys()],
      heads.map((h) => refKey(h.ref)),
    );
    const moved = { ...heads[0]!, revision: 4, contentHash: "cd".repeat(32) };
    // Read, then moved: the next read sees the move, not the head read before.
    assert.equal(table.get(refKey(moved.ref))?.revision, 3);
    table.set(refKey(moved.ref), moved);
    assert.deepEqual(table.get(refKey(moved.ref)), moved);
    assert.equal(table.delete(refKey(moved.ref)), true);
    assert.equal(table.get(refKey(moved.ref)), undefined);
    assert.equal(table.has(refKey(heads[1]!.ref)), true);
  });

  it("should refuse a head under a key that is not its ref's", () => {
    const table = new HeadTable();
    const head: Head = {
      ref: ref("a"),
      revision: 1,
      contentHash: "h",
      deleted: false,
      location: null,
    };
    assert.throws(() => table.set(refKey(ref("b")), head), /not its ref's key/);
  });
});
