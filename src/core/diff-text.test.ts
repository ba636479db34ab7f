import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseAllDocuments } from "yaml";
import { sharedDir } from "../../test/helpers.js";
import type { JsonObject, JsonValue } from "../model/json.js";
import { canonicalize } from "./canonicalize.js";
import { diff } from "./diff.js";
import { diffJsonText } from "./diff-text.js";
import { summarize, summarizeWithOlds } from "./summarize.js";

// Documents as ingest holds them: through a JSON round trip (no -0, no undefined).
const json = fc
  .jsonValue({ maxDepth: 4 })
  .map(
    (v) =>
      JSON.parse(JSON.stringify(v), (k, x) => (k === "__proto__" ? undefined : x)) as JsonValue,
  );
// Keys that sort differently from the text (array indexes), escapes, repeated shapes.
const key = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.constantFrom("0", "1", "10", "01", "a/b", "c~d", 'q"u', "back\\slash", "é", "\u2028"),
);
const obj = fc.dictionary(key, json, { maxKeys: 20 });
const pairs = fc.oneof(
  fc.tuple(json, json),
  fc.tuple(obj, obj, obj).map(([base, a, b]) => [
    { ...base, ...a },
    { ...base, ...b },
  ]),
  // An edit deep inside a shared document: most subtrees equal, as ingest sees them.
  fc
    .tuple(obj, fc.array(json, { maxLength: 5 }), json)
    .map(([base, list, leaf]) => [
      { spec: { base, list, keep: base } },
      { spec: { base, list: [...list, leaf], keep: base } },
    ]),
);

/** The text differ's result beside the object differ's, with both summaries. */
function both(before: JsonValue, after: JsonValue) {
  const { patch, olds } = diffJsonText(JSON.stringify(before), after, JSON.stringify(after));
  const expected = diff(before, after);
  return {
    patch,
    expected,
    summary: summarizeWithOlds(patch, olds, after),
    expectedSummary: summarize(expected, before, after),
  };
}

describe("diffJsonText", () => {
  it("should give diff()'s patch and summary op for op, for random pairs", () => {
    fc.assert(
      fc.property(pairs, ([before, after]) => {
        const r = both(before as JsonValue, after as JsonValue);
        assert.deepStrictEqual(r.patch, r.expected);
        assert.deepStrictEqual(r.summary, r.expectedSummary);
      }),
      { numRuns: 4000, seed: 20261130 },
    );
  });

  it("should give diff()'s patch for edits of real upstream manifests", () => {
    const docs = fixtureDocuments();
    assert.ok(docs.length > 20, `only ${docs.length} fixture documents`);
    const edit = fc.tuple(
      fc.nat(docs.length - 1),
      fc.array(fc.tuple(fc.nat(), json), { minLength: 1, maxLength: 3 }),
    );
    fc.assert(
      fc.property(edit, ([i, edits]) => {
        const before = docs[i] as JsonObject;
        const after = structuredClone(before);
        for (const [at, value] of edits) setSomewhere(after, at, value);
        const r = both(before, after);
        assert.deepStrictEqual(r.patch, r.expected);
        assert.deepStrictEqual(r.summary, r.expectedSummary);
      }),
      { numRuns: 1500, seed: 20261130 },
    );
  });

  it("should read text with whitespace or a repeated key as JSON.parse does", () => {
    const after = { a: 1, b: [1, 2], c: { d: "x" } };
    const spaced = JSON.stringify({ a: 2, b: [1], c: { d: "y" } }, null, 2);
    assert.deepStrictEqual(
      diffJsonText(spaced, after, JSON.stringify(after)).patch,
      diff(JSON.parse(spaced), after),
    );
    // Sorted text (stableStringify) lists "10" before "2"; JavaScript lists "2" first.
    const numeric = { "2": 5, "10": 6, a: 3 };
    assert.deepStrictEqual(
      diffJsonText('{"10":1,"2":2,"a":3}', numeric, JSON.stringify(numeric)).patch,
      [
        { op: "replace", path: "/10", value: 6 },
        { op: "replace", path: "/2", value: 5 },
      ],
    );
    const repeated = '{"a":1,"b":[1,2],"c":{"d":"x","d":"z"}}';
    const r = diffJsonText(repeated, after, JSON.stringify(after));
    assert.deepStrictEqual(r.patch, [{ op: "replace", path: "/c/d", value: "x" }]);
    assert.deepStrictEqual(r.olds, ["z"]);
  });

  it("should diff documents larger than its kept tables, then small ones again", () => {
    for (const size of [100, 5_000, 80_000, 10]) {
      const before = {
        data: Object.fromEntries(Array.from({ length: size }, (_, i) => [`k${i}`, `v${i}`])),
      };
      const after = structuredClone(before);
      after.data[`k${size - 1}`] = "changed";
      delete after.data.k0;
      const r = both(before, after);
      assert.deepStrictEqual(r.patch, r.expected);
      assert.equal(r.patch.length, 2);
    }
  });

  it("should name the replaced and removed values, and nothing for an add", () => {
    const before = { spec: { weight: 90, hosts: ["a", "b"], gone: { x: 1 } } };
    const after = { spec: { weight: 10, hosts: ["a"], extra: true } };
    const r = diffJsonText(JSON.stringify(before), after, JSON.stringify(after));
    assert.deepStrictEqual(r.patch, diff(before, after));
    assert.deepStrictEqual(
      r.patch.map((op, i) => [op.op, op.path, r.olds[i]]),
      [
        ["remove", "/spec/gone", { x: 1 }],
        ["remove", "/spec/hosts/1", "b"],
        ["replace", "/spec/weight", 90],
        ["add", "/spec/extra", undefined],
      ],
    );
  });
});

/** Every document of the shared fixtures' YAML examples, canonicalized as ingest stores them. */
function fixtureDocuments(): JsonObject[] {
  const docs: JsonObject[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry.name) && docs.length < 400) {
        for (const doc of parseAllDocuments(readFileSync(path, "utf8"))) {
          const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
          if (value && typeof value === "object" && !Array.isArray(value)) {
            docs.push(JSON.parse(JSON.stringify(canonicalize(value as JsonObject))));
          }
        }
      }
    }
  };
  walk(join(sharedDir, "fixtures"));
  return docs;
}

/** Replaces (or adds) the value at the n-th container node of a document, depth first. */
function setSomewhere(doc: JsonObject, n: number, value: JsonValue): void {
  const containers: (JsonObject | JsonValue[])[] = [];
  const collect = (node: JsonValue) => {
    if (node === null || typeof node !== "object") return;
    containers.push(node);
    for (const child of Object.values(node)) collect(child);
  };
  collect(doc);
  const target = containers[n % containers.length] as JsonObject | JsonValue[];
  if (Array.isArray(target)) {
    if (target.length === 0 || n % 3 === 0) target.push(value);
    else if (n % 3 === 1) target.pop();
    else target[n % target.length] = value;
  } else {
    const keys = Object.keys(target);
    if (keys.length === 0 || n % 3 === 0) target[`k${n % 7}`] = value;
    else if (n % 3 === 1) delete target[keys[n % keys.length] as string];
    else target[keys[n % keys.length] as string] = value;
  }
}
