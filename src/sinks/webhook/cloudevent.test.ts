import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { sharedDir } from "../../../test/helpers.js";
import { sampleChange } from "../contract.js";
import {
  binary,
  type CloudEvent,
  cloudEventOf,
  encodeHeaderValue,
  structured,
} from "./cloudevent.js";

/** The CloudEvents examples, read at run time from the shared notes (never copied). */
let doc = "";

/** The JSON example and the binary rendering that follow a heading. */
function example(heading: string): { event: CloudEvent; headers: string[]; body: string } {
  const section = doc.slice(doc.indexOf(heading));
  const blocks = [...section.matchAll(/```(?:json)?\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const event = JSON.parse(blocks[0]!) as CloudEvent;
  const [head, body] = blocks[1]!.split("\n\n");
  return { event, headers: head!.split("\n"), body: body!.trim() };
}

describe("CloudEvents encoding (shared examples)", () => {
  before(async () => {
    doc = await readFile(join(sharedDir, "vectors", "cloudevents.md"), "utf8");
  });

  for (const heading of ["### 2.", "### 3."]) {
    it(`should render example ${heading.slice(4, 5)} in binary mode header for header`, () => {
      const { event, headers, body } = example(heading);
      const rendered = binary(event);
      const lines = Object.entries(rendered.headers).map(([k, v]) => `${k}: ${v}`);
      assert.deepStrictEqual(lines.sort(), [...headers].sort());
      assert.deepStrictEqual(JSON.parse(rendered.body), JSON.parse(body));
    });

    it(`should render example ${heading.slice(4, 5)} in structured mode as the whole event`, () => {
      const { event } = example(heading);
      const rendered = structured(event);
      assert.equal(rendered.headers["content-type"], "application/cloudevents+json; charset=utf-8");
      assert.deepStrictEqual(JSON.parse(rendered.body), event);
    });
  }

  it("should percent-encode header values as the HTTP binding's example does", () => {
    const m = /`"(Euro[^"]*)"` → `([^`]+)`/.exec(doc);
    assert.ok(m, "the Euro example");
    assert.equal(encodeHeaderValue(m[1]!), m[2]);
    assert.equal(encodeHeaderValue('a "b" 100%'), "a%20%22b%22%20100%25");
  });

  it("should carry a change with the required attributes and the stable id", () => {
    const change = sampleChange(7);
    const event = cloudEventOf(change, "/crwatch");
    assert.equal(event.specversion, "1.0");
    assert.equal(event.id, change.id);
    assert.equal(event.type, "dev.crwatch.change.modified");
    assert.equal(event.source, "/crwatch/s");
    assert.equal(event.subject, "s:HTTPRoute.gateway.networking.k8s.io shop/r7");
    assert.equal(event.time, change.observedAt);
    assert.equal(event.datacontenttype, "application/json");
    assert.deepStrictEqual(event.data, change);
    assert.equal(event.sequence, "00000000000000000007");
    for (const name of Object.keys(event)) assert.match(name, /^[a-z0-9]{1,20}$/);
  });
});
