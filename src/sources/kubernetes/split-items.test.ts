import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { JsonObject } from "../../model/json.js";
import { type DecodeStream, decodeItem, decodeList } from "./decode.js";
import { objectMemberText, splitItems } from "./split-items.js";

const secrets: DecodeStream = {
  served: { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true },
  key: "Secret",
  source: "cluster",
};

/** Item-like objects: a name, and values full of quotes, backslashes and brackets. */
const item = fc.record({
  metadata: fc.record({ name: fc.string({ minLength: 1 }), namespace: fc.string() }),
  data: fc.dictionary(
    fc.string().filter((k) => k !== "__proto__"),
    fc.jsonValue(),
  ),
});
const key = fc.string().filter((k) => !["items", "metadata", "__proto__"].includes(k));
const page = fc.record({
  before: fc.dictionary(key, fc.jsonValue(), { maxKeys: 3 }),
  after: fc.dictionary(key, fc.jsonValue(), { maxKeys: 3 }),
  items: fc.array(item, { maxLength: 8 }),
  indent: fc.constantFrom(0, 2, "\t"),
});

describe("splitItems", () => {
  it("should cut each item's text and the rest so that parsing them gives what parsing the page gives", () => {
    fc.assert(
      fc.property(page, ({ before, after, items, indent }) => {
        const whole = { ...before, items, ...after };
        const body = JSON.stringify(whole, null, indent);
        const split = splitItems(body);
        // A top-level key that JSON escapes is not split (the page is then parsed whole).
        const plainKeys = Object.keys(whole).every((k) => JSON.stringify(k) === `"${k}"`);
        if (!plainKeys) return assert.equal(split, undefined);
        assert.ok(split, body);
        assert.deepStrictEqual(
          split.items.map((text) => JSON.parse(text)),
          JSON.parse(body).items,
        );
        assert.deepStrictEqual(JSON.parse(split.rest), { ...JSON.parse(body), items: [] });
      }),
    );
  });

  it("should decode a split page's items exactly as parsed objects are decoded", () => {
    fc.assert(
      fc.property(page, ({ before, after, items, indent }) => {
        const list = {
          ...before,
          metadata: { resourceVersion: "9", continue: "c" },
          items,
          ...after,
        };
        const decoded = decodeList(secrets, "/p", JSON.stringify(list, null, indent));
        assert.equal(decoded.resourceVersion, "9");
        assert.equal(decoded.continue, "c");
        // decodeItem without the raw text: the object serialized, as before pages were split.
        const expected = items.map((object) => decodeItem(secrets, object as JsonObject));
        assert.deepStrictEqual(
          decoded.items.map((i) => ({ ...i, text: JSON.parse(i.text) })),
          expected.map((i) => ({ ...i, text: JSON.parse(i.text) })),
        );
      }),
    );
  });

  it("should put kind and apiVersion in front of a core item's own text, and leave an item that has them as it came", () => {
    const body =
      '{"items":[ {"metadata":{"name":"a"}} ,{"kind":"X","metadata":{"name":"b"},"apiVersion":"v9"},{}]}';
    const split = splitItems(body);
    assert.deepStrictEqual(split?.items, [
      '{"metadata":{"name":"a"}}',
      '{"kind":"X","metadata":{"name":"b"},"apiVersion":"v9"}',
      "{}",
    ]);
    const list = decodeList(
      secrets,
      "/p",
      '{"items":[{"metadata":{"name":"a"}},{"kind":"X","metadata":{"name":"b"},"apiVersion":"v9"}]}',
    );
    assert.deepStrictEqual(
      list.items.map((i) => i.text),
      [
        '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}',
        '{"kind":"X","metadata":{"name":"b"},"apiVersion":"v9"}',
      ],
    );
  });

  it("should not split what is not the plain shape, and the page parsed whole then decides", () => {
    for (const body of [
      '{"items":[1,2]}',
      '{"\\u0069tems":[{"metadata":{"name":"a"}}]}',
      '{"items":[{"metadata":{"name":"a"}}',
      '{"kind":"List"}',
      "[]",
      "",
    ])
      assert.equal(splitItems(body), undefined, body);
    // A second `items` key: JSON.parse takes the last, and so does decoding.
    const twice =
      '{"items":[{"metadata":{"name":"first"}}],"items":[{"metadata":{"name":"last"}}]}';
    assert.deepStrictEqual(
      decodeList(secrets, "/p", twice).items.map((i) => i.fields.ref.name),
      ["last"],
    );
    // Brackets that close wrongly inside an item split, fail to parse, and the whole says why.
    assert.throws(
      () => decodeList(secrets, "/p", '{"items":[{"metadata":{"name":"a"]}]}'),
      (err: { code?: string }) => err.code === "CRW_K8S_HTTP",
    );
    const escaped = decodeList(
      secrets,
      "/p",
      '{"\\u0069tems":[{"metadata":{"name":"a\\"b\\\\"}}]}',
    );
    assert.deepStrictEqual(
      escaped.items.map((i) => JSON.parse(i.text) as JsonObject),
      [{ apiVersion: "v1", kind: "Secret", metadata: { name: 'a"b\\' } }],
    );
  });

  it("should give a watch line's object as the server wrote it, and nothing for a line of another shape", () => {
    fc.assert(
      fc.property(item, fc.constantFrom(0, 2), fc.boolean(), (object, indent, objectFirst) => {
        const event = objectFirst ? { object, type: "MODIFIED" } : { type: "MODIFIED", object };
        const line = JSON.stringify(event, null, indent);
        const text = objectMemberText(line);
        assert.ok(text !== undefined);
        assert.deepStrictEqual(JSON.parse(text), JSON.parse(JSON.stringify(object)));
      }),
    );
    for (const line of [
      '{"type":"ADDED","object":[]}',
      '{"type":"ADDED"}',
      '{"type":"ADDED","object":{"a":1},"object":{"b":2}}',
      '{"type":"ADDED","\\u006fbject":{"a":1}}',
      '{"type":"ADDED","object":{"a":1}',
      "[]",
    ])
      assert.equal(objectMemberText(line), undefined, line);
  });
});
