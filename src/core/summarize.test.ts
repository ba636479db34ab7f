import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { diff } from "./diff.js";
import { displayPath, renderValue, summarize } from "./summarize.js";

describe("summarize", () => {
  it("should print one line per path with old and new values", () => {
    const before = {
      spec: {
        rules: [
          {
            backendRefs: [
              { name: "v1", weight: 90 },
              { name: "v2", weight: 10 },
            ],
          },
        ],
      },
    };
    const after = {
      spec: {
        rules: [
          {
            backendRefs: [
              { name: "v1", weight: 0 },
              { name: "v2", weight: 10 },
            ],
          },
        ],
        hostnames: ["x"],
      },
    };
    const lines = summarize(diff(before, after), before, after);
    assert.deepStrictEqual(lines.sort(), [
      'spec.hostnames: (absent) → ["x"]',
      "spec.rules[0].backendRefs[0].weight: 90 → 0",
    ]);
  });

  it("should show removals with the old value", () => {
    const before = { spec: { cors: { allowOrigins: ["https://a"] } } };
    const after = { spec: {} };
    assert.deepStrictEqual(summarize(diff(before, after), before, after), [
      'spec.cors: {"allowOrigins":["https://a"]} → (absent)',
    ]);
  });

  it("should quote keys that are not identifiers and truncate long values", () => {
    assert.equal(
      displayPath("/metadata/annotations/a.b~1c", { metadata: { annotations: {} } }),
      'metadata.annotations["a.b/c"]',
    );
    const long = "x".repeat(200);
    const [line] = summarize(diff({ a: "" }, { a: long }), { a: "" }, { a: long });
    assert.ok(line && line.length < 120 && line.endsWith("…"));
  });

  it("should render a value as the first 79 characters of its JSON, serializing no further", () => {
    const whole = (value: unknown) => {
      const text = JSON.stringify(value);
      return text.length > 80 ? `${text.slice(0, 79)}…` : text;
    };
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        assert.equal(renderValue(value), whole(value));
      }),
      { numRuns: 3000, seed: 20261130 },
    );
    assert.equal(renderValue({ a: undefined, b: [undefined, 1] }), '{"b":[null,1]}');
  });
});
