import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ObservationEvent,
  type ObservedObject,
  observedText,
} from "../../model/observation.js";
import { fromStored, pack, toStored, unpack, unpackEvents } from "./packed.js";

const item: ObservedObject = {
  ref: { source: "s", group: "", kind: "ConfigMap", namespace: "n", name: "a" },
  object: { apiVersion: "v1", kind: "ConfigMap", data: { big: "123456789012345678901" } },
  location: { path: "/x/a.yaml", line: 3, document: 1 },
};

/** An unpacked item as plain data: its text read as the object it holds. */
function plain(unpacked: ObservedObject): ObservedObject {
  const { json, ...rest } = unpacked;
  assert.equal(typeof json, "string", "unpacked as JSON text, for ingest to hand on");
  return rest;
}

function plainEvents(events: ObservationEvent[]): ObservationEvent[] {
  return events.map((e) =>
    e.type === "upsert"
      ? { ...e, item: plain(e.item) }
      : e.type === "snapshot" || e.type === "snapshot-page"
        ? { ...e, items: e.items.map(plain) }
        : e,
  );
}

describe("packed items", () => {
  it("should keep the object as text only, and give it back equal", () => {
    const packed = pack(item);
    assert.deepEqual(Object.keys(packed).sort(), ["location", "ref", "text"]);
    assert.deepEqual(packed.object, item.object);
    assert.notEqual(packed.object, packed.object, "parsed at each read, never kept");
    assert.deepEqual(plain(unpack(packed)), item);
    assert.equal(pack(packed), packed);
  });

  it("should go through the read cache's JSON as text", () => {
    const stored = JSON.parse(JSON.stringify(toStored(item)));
    assert.equal(typeof stored.text, "string");
    assert.equal("object" in stored, false);
    assert.deepEqual(plain(unpack(fromStored(stored))), item);
  });

  it("should unpack the items of upserts, snapshots and pages, and leave other events", () => {
    const p = pack(item);
    const problem = {
      type: "problem" as const,
      problem: {
        code: "CRW_YAML_SYNTAX" as const,
        message: "m",
        location: { path: "/x" },
        fingerprint: "f",
      },
    };
    const events = plainEvents(
      unpackEvents([
        { type: "upsert", item: p },
        { type: "snapshot", items: [p] },
        { type: "snapshot-page", id: "i", items: [p] },
        problem,
      ]),
    );
    assert.deepEqual(events, [
      { type: "upsert", item },
      { type: "snapshot", items: [item] },
      { type: "snapshot-page", id: "i", items: [item] },
      problem,
    ]);
  });

  it("should pack an item a parse worker sent as text without parsing it", () => {
    const { object, ...fields } = item;
    const text = JSON.stringify(object);
    const sent = observedText(text, fields);
    const packed = pack(sent);
    assert.equal(packed.text, text);
    assert.equal(typeof Object.getOwnPropertyDescriptor(sent, "object")?.get, "function");
    assert.deepEqual(plain(unpack(packed)), item);
  });
});
