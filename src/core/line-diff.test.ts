import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lineDiff } from "./line-diff.js";
import { summarize } from "./summarize.js";

describe("lineDiff", () => {
  it("should list only the lines removed and added", () => {
    const d = lineDiff("a\nb\nc\nd", "a\nc\nd\ne");
    assert.deepEqual(d, { added: 1, removed: 1, lines: ["- b", "+ e"], truncated: false });
  });

  it("should cap the lines it lists", () => {
    const d = lineDiff("", Array.from({ length: 30 }, (_, i) => `l${i}`).join("\n"), 5);
    assert.equal(d.lines.length, 5);
    assert.ok(d.truncated);
  });
});

describe("summarize of a multi-line string", () => {
  it("should show a line diff instead of one opaque replace", () => {
    const before = { config: { access: ["local a = 1\nngx.say(a)\nreturn"] } };
    const after = { config: { access: ["local a = 2\nngx.say(a)\nreturn"] } };
    const lines = summarize(
      [{ op: "replace", path: "/config/access/0", value: after.config.access[0] }],
      before,
      after,
    );
    assert.deepEqual(lines, [
      "config.access[0]: text changed, +1 −1 lines",
      "    - local a = 1",
      "    + local a = 2",
    ]);
  });
});
