import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { observedText, withFields } from "./observation.js";

describe("observedText", () => {
  const ref = { source: "s", group: "", kind: "ConfigMap", namespace: "a", name: "c" };

  it("should keep the text and parse the object only when it is read, once", () => {
    const json = '{"kind":"ConfigMap","data":{"a":"1"}}';
    const item = observedText(json, { ref, location: { path: "/c.yaml", line: 3 } });
    assert.equal(item.json, json);
    assert.deepStrictEqual(item.location, { path: "/c.yaml", line: 3 });
    const descriptor = Object.getOwnPropertyDescriptor(item, "object");
    assert.equal(typeof descriptor?.get, "function", "not parsed before the first read");
    const first = item.object;
    assert.deepStrictEqual(first, { kind: "ConfigMap", data: { a: "1" } });
    assert.equal(item.object, first, "parsed once, then kept");
    assert.equal(Object.getOwnPropertyDescriptor(item, "object")?.get, undefined);
  });

  it("should throw the parser's error on first read when the text is not JSON", () => {
    const item = observedText("{not json", { ref });
    assert.throws(() => item.object, SyntaxError);
  });

  it("should replace fields of a text item without parsing it, and of an object item by spread", () => {
    const item = observedText('{"kind":"ConfigMap"}', { ref, actor: { name: "a" } });
    const moved = withFields(item, { location: { path: "/moved.yaml" } });
    assert.equal(typeof Object.getOwnPropertyDescriptor(item, "object")?.get, "function");
    assert.equal(typeof Object.getOwnPropertyDescriptor(moved, "object")?.get, "function");
    assert.equal(moved.json, item.json);
    assert.deepStrictEqual(moved.actor, { name: "a" });
    assert.deepStrictEqual(moved.location, { path: "/moved.yaml" });
    assert.deepStrictEqual(moved.object, { kind: "ConfigMap" });
    const plain = withFields({ ref, object: { kind: "X" } }, { location: { path: "/p" } });
    assert.deepStrictEqual(plain, { ref, object: { kind: "X" }, location: { path: "/p" } });
  });
});
