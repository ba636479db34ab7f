import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { copyPatch, type NewChange, setLazyPatch } from "../model/change.js";
import { committedChange, toRow } from "./log-format.js";

function added(patchJson: string): NewChange {
  const change: NewChange = {
    type: "ADDED",
    ref: { source: "s", group: "g", kind: "K", namespace: "n", name: "x" },
    revision: 1,
    previousRevision: null,
    actor: null,
    cause: null,
    location: null,
    observedAt: "2026-11-30T00:00:00.000Z",
    patch: [],
    patchJson,
    summary: [],
    findings: [],
    notice: null,
    object: null,
    contentHash: "h",
  };
  return setLazyPatch(change, patchJson);
}

describe("a patch sent as text (setLazyPatch)", () => {
  const text = '[{"op":"add","path":"/spec","value":{"a":1}}]';

  it("should be parsed when read, and be the value JSON.stringify and spreads see", () => {
    const change = added(text);
    assert.deepStrictEqual(change.patch, JSON.parse(text));
    assert.equal(change.patch, change.patch, "parsed once, then kept");
    assert.deepStrictEqual({ ...change }.patch, JSON.parse(text));
    assert.equal(JSON.stringify(change.patch), text);
  });

  it("should not be parsed by commit: the row stores the text, the committed change reads late", () => {
    // Not JSON: reading it would throw, so passing through toRow and committedChange proves
    // neither reads it.
    const change = added("[not json");
    const row = toRow(change, 7, "prev", "2026-11-30T00:00:01.000Z");
    assert.equal(row.patch, "[not json");
    const committed = committedChange(change, { ...row, hash: "abc" });
    assert.equal(committed.seq, 7);
    assert.ok(!("patchJson" in committed));
    assert.throws(() => committed.patch, SyntaxError);
  });

  it("should copy a plain patch as a value and a lazy one as lazy", () => {
    const plain = copyPatch({}, { patch: [{ op: "remove", path: "/a" }] });
    assert.deepStrictEqual(plain.patch, [{ op: "remove", path: "/a" }]);
    const lazy = copyPatch({}, added("[not json"));
    assert.throws(() => lazy.patch, SyntaxError);
  });
});
