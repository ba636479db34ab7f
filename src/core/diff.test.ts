import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import fjp from "fast-json-patch";
import { sharedDir } from "../../test/helpers.js";
import type { PatchOp } from "../model/change.js";
import type { JsonValue } from "../model/json.js";
import { applyPatch, diff, valueAt } from "./diff.js";

interface PatchVector {
  comment?: string;
  doc?: JsonValue;
  patch?: PatchOp[];
  expected?: JsonValue;
  error?: string;
  disabled?: boolean;
}

function loadVectors(file: string): PatchVector[] {
  const path = join(sharedDir, "vectors", "json-patch-tests", file);
  return (JSON.parse(readFileSync(path, "utf8")) as PatchVector[]).filter(
    (v) => v.doc !== undefined && !v.disabled,
  );
}

// Through a JSON round trip, as stored documents are (JSON has no -0).
// `__proto__` keys are dropped by canonicalize before any diff (see canonicalize.ts).
const json = fc
  .jsonValue({ maxDepth: 4 })
  .map(
    (v) =>
      JSON.parse(JSON.stringify(v), (k, x) => (k === "__proto__" ? undefined : x)) as JsonValue,
  );

describe("diff", () => {
  it("should produce a patch that turns the old document into the new one, for random pairs", () => {
    fc.assert(
      fc.property(json, json, (before, after) => {
        const patch = diff(before, after);
        assert.deepStrictEqual(applyPatch(before, patch), after);
      }),
      { numRuns: 2000, seed: 20261130 },
    );
  });

  it("should produce a patch for random edits of one object", () => {
    const obj = fc.dictionary(fc.string({ maxLength: 6 }), json, { maxKeys: 8 });
    fc.assert(
      fc.property(obj, obj, obj, (base, a, b) => {
        const before = { ...base, ...a };
        const after = { ...base, ...b };
        assert.deepStrictEqual(applyPatch(before, diff(before, after)), after);
      }),
      { numRuns: 1000, seed: 20261130 },
    );
  });

  it("should give fast-json-patch's compare() patch op for op, for random pairs and edits", () => {
    // Decision 0033: the own walk must not change a single stored patch.
    const obj = fc.dictionary(fc.string({ maxLength: 4 }), json, { maxKeys: 8 });
    const pairs = fc.oneof(
      fc.tuple(json, json),
      fc.tuple(obj, obj, obj).map(([base, a, b]) => [
        { ...base, ...a },
        { ...base, ...b },
      ]),
      fc.tuple(fc.array(json, { maxLength: 6 }), fc.array(json, { maxLength: 6 })),
    );
    fc.assert(
      fc.property(pairs, ([before, after]) => {
        const ours = diff(before as JsonValue, after as JsonValue);
        if (ours.length === 1 && ours[0]?.path === "") return; // root replace: ours alone
        assert.deepStrictEqual(ours, fjp.compare(before as object, after as object));
      }),
      { numRuns: 3000, seed: 20261130 },
    );
  });

  it("should escape ~ and / in keys and share, not copy, the values it adds", () => {
    const added = { deep: [1, 2] };
    const patch = diff({ "a/b": { "c~d": 1 }, x: [] }, { "a/b": { "c~d": 2 }, x: [added] });
    assert.deepStrictEqual(patch, [
      { op: "add", path: "/x/0", value: { deep: [1, 2] } },
      { op: "replace", path: "/a~1b/c~0d", value: 2 },
    ]);
    assert.equal(patch[0]?.value, added);
  });

  it("should produce no operations for equal documents", () => {
    fc.assert(fc.property(json, (doc) => diff(doc, structuredClone(doc)).length === 0));
  });

  it("should replace only the changed leaf", () => {
    const before = { spec: { rules: [{ backendRefs: [{ name: "v1", weight: 90 }] }] } };
    const after = { spec: { rules: [{ backendRefs: [{ name: "v1", weight: 0 }] }] } };
    assert.deepStrictEqual(diff(before, after), [
      { op: "replace", path: "/spec/rules/0/backendRefs/0/weight", value: 0 },
    ]);
  });
});

for (const file of ["tests.json", "spec_tests.json"]) {
  describe(`json-patch-tests ${file} through the project's patch applier`, () => {
    const vectors = loadVectors(file);
    it("should have loaded the vectors", () => assert.ok(vectors.length > 10));
    vectors.forEach((v, i) => {
      it(`case ${i}: ${v.comment ?? "(no comment)"}`, () => {
        if (v.error !== undefined) {
          assert.throws(() => applyPatch(v.doc as JsonValue, v.patch ?? []));
        } else {
          assert.deepStrictEqual(
            applyPatch(v.doc as JsonValue, v.patch ?? []),
            v.expected ?? v.doc,
          );
        }
      });
    });
  });
}

describe("valueAt", () => {
  it("should read escaped pointers", () => {
    assert.equal(valueAt({ "a/b": { "m~n": 1 } }, "/a~1b/m~0n"), 1);
    assert.equal(valueAt({ a: [1, 2] }, "/a/1"), 2);
    assert.equal(valueAt({ a: 1 }, "/b/c"), undefined);
  });
});
