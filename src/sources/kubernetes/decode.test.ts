import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { CrwatchError } from "../../model/errors.js";
import type { JsonObject } from "../../model/json.js";
import { actorFromManagedFields } from "./actor.js";
import {
  type DecodedEvent,
  type DecodeStream,
  decodeEvents,
  decodeList,
  toObserved,
} from "./decode.js";
import { decodeEventsReply, decodeListReply, encodeEvents, encodeList } from "./decode-wire.js";
import { KubeDecoder } from "./decoder.js";

const routes: DecodeStream = {
  served: {
    group: "gateway.networking.k8s.io",
    version: "v1",
    kind: "HTTPRoute",
    plural: "httproutes",
    namespaced: true,
  },
  key: "HTTPRoute.gateway.networking.k8s.io",
  source: "cluster",
};
const secrets: DecodeStream = {
  served: { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true },
  key: "Secret",
  source: "cluster",
};

function route(name: string, rv: string, manager = "helm"): JsonObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: {
      name,
      namespace: "shop",
      resourceVersion: rv,
      managedFields: [{ manager, operation: "Apply", time: "2026-01-01T00:00:00Z" }],
    },
    spec: { rules: [{ backendRefs: [{ name: "v1", port: 8080, weight: 1 }] }] },
  };
}

/** What the source handed ingest before items went as text (list-watch.ts `observed`). */
function objectItemBefore(stream: DecodeStream, item: JsonObject) {
  const { served } = stream;
  const metadata = item.metadata as { name: string; namespace?: string };
  const namespace = metadata.namespace ?? "";
  const apiVersion = served.group ? `${served.group}/${served.version}` : served.version;
  const base = served.group ? `/apis/${served.group}/${served.version}` : `/api/${served.version}`;
  const who = actorFromManagedFields(item);
  return {
    ref: {
      source: stream.source,
      group: served.group,
      kind: served.kind,
      namespace,
      name: metadata.name,
    },
    object: { apiVersion, kind: served.kind, ...item },
    location: {
      path: `${base}${namespace ? `/namespaces/${namespace}` : ""}/${served.plural}/${metadata.name}`,
    },
    ...(who ? { actor: who.actor, cause: who.cause } : {}),
  };
}

function listBody(items: JsonObject[], rv: string, token = ""): string {
  return JSON.stringify({
    kind: "HTTPRouteList",
    apiVersion: "gateway.networking.k8s.io/v1",
    metadata: { resourceVersion: rv, ...(token ? { continue: token } : {}) },
    items,
  });
}

describe("kubernetes decode: list pages and watch lines to items as text", () => {
  it("should give each list item as text that parses to the object it handed before, with the same fields, in order", () => {
    const items = [route("a", "11"), route("b", "12", "kubectl"), route("c", "13")];
    const list = decodeList(routes, "/apis/x", listBody(items, "20", "next-page"));
    assert.equal(list.resourceVersion, "20");
    assert.equal(list.continue, "next-page");
    assert.deepStrictEqual(
      list.items.map((item) => item.fields.ref.name),
      ["a", "b", "c"],
    );
    for (const [i, decoded] of list.items.entries()) {
      const observed = toObserved(decoded);
      assert.equal(observed.json, decoded.text);
      const { object, ...fields } = objectItemBefore(routes, items[i]!);
      assert.deepStrictEqual({ ...observed }, { ...fields, json: decoded.text, object });
    }
  });

  it("should fill in kind and apiVersion for core items, and keep an item's own", () => {
    const secret = { metadata: { name: "s", namespace: "edge" }, data: { k: "dg==" } };
    const [core] = decodeList(
      secrets,
      "/api/v1/secrets",
      JSON.stringify({ items: [secret] }),
    ).items;
    assert.deepStrictEqual(JSON.parse(core!.text), { apiVersion: "v1", kind: "Secret", ...secret });
    const own = { ...route("a", "1"), apiVersion: "gateway.networking.k8s.io/v1beta1" };
    const [kept] = decodeList(routes, "/apis/x", listBody([own], "2")).items;
    assert.equal(JSON.parse(kept!.text).apiVersion, "gateway.networking.k8s.io/v1beta1");
  });

  it("should refuse a page that is not JSON (CRW_K8S_HTTP) and a nameless item (CRW_K8S_STREAM)", () => {
    assert.throws(
      () => decodeList(routes, "/apis/x?limit=500", "<html>proxy error</html>"),
      (err: CrwatchError) =>
        err.code === "CRW_K8S_HTTP" &&
        err.message === "GET /apis/x?limit=500: the answer is not JSON",
    );
    assert.throws(
      () => decodeList(routes, "/apis/x", listBody([{ metadata: {} }], "1")),
      (err: CrwatchError) =>
        err.code === "CRW_K8S_STREAM" && /without metadata\.name/.test(err.message),
    );
  });

  it("should decode watch lines in order, each bad line in its place", () => {
    const lines = [
      JSON.stringify({ type: "ADDED", object: route("a", "31") }),
      JSON.stringify({
        type: "BOOKMARK",
        object: { kind: "HTTPRoute", metadata: { resourceVersion: "32" } },
      }),
      "this is not JSON",
      JSON.stringify({ type: "DELETED", object: route("a", "33") }),
      JSON.stringify({ type: "MODIFIED", object: { metadata: { name: "x" } } }),
      JSON.stringify({
        type: "ERROR",
        object: { kind: "Status", code: 410, reason: "Expired", message: "too old" },
      }),
      JSON.stringify({ type: "SOMETHING", object: {} }),
    ];
    const events = decodeEvents(routes, lines);
    assert.deepStrictEqual(
      events.map((e) => e.type),
      ["ADDED", "BOOKMARK", "bad", "DELETED", "bad", "ERROR", "bad"],
    );
    assert.deepStrictEqual(events[1], { type: "BOOKMARK", rv: "32" });
    assert.deepStrictEqual(events[5], {
      type: "ERROR",
      code: 410,
      reason: "Expired",
      message: "too old",
    });
    const added = events[0] as Extract<DecodedEvent, { rv: string; item: unknown }>;
    assert.equal(added.rv, "31");
    assert.deepStrictEqual(JSON.parse(added.item.text), route("a", "31"));
    const bad = events.filter((e) => e.type === "bad").map((e) => e.error.message);
    assert.deepStrictEqual(bad, [
      `watch of ${routes.key}: not JSON: this is not JSON`,
      `watch of ${routes.key}: the object has no metadata.resourceVersion: ${lines[4]}`,
      `watch of ${routes.key}: not a {type, object} watch event: ${lines[6]}`,
    ]);
  });

  it("should carry pages and events across the worker wire unchanged", () => {
    const list = decodeList(
      routes,
      "/apis/x",
      listBody([route("a", "1"), route("b", "2")], "3", "t"),
    );
    assert.deepStrictEqual(decodeListReply(encodeList(7, list)), list);
    const events = decodeEvents(routes, [
      JSON.stringify({ type: "MODIFIED", object: route("a", "4") }),
      "garbage",
      JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: "5" } } }),
      JSON.stringify({ type: "DELETED", object: route("b", "6") }),
    ]);
    assert.deepStrictEqual(decodeEventsReply(encodeEvents(8, events)), events);
  });
});

describe("kubernetes decoder: the worker thread gives what decoding inline gives", () => {
  const worker = new KubeDecoder({ inlineBelowBytes: 0 });
  const inline = new KubeDecoder({ inlineBelowBytes: Number.POSITIVE_INFINITY });
  after(() => worker.close());
  const bytes = (text: string) => new Uint8Array(Buffer.from(text));

  it("should decode a page in the worker exactly as inline, and several in the order asked", async () => {
    const pages = [0, 1, 2].map((p) =>
      listBody(
        Array.from({ length: 50 }, (_, i) => route(`r-${p}-${i}`, String(100 * p + i))),
        "900",
        p < 2 ? `page-${p + 1}` : "",
      ),
    );
    const fromWorker = await Promise.all(
      pages.map((page) => worker.list(routes, "/p", bytes(page))),
    );
    const fromInline = await Promise.all(
      pages.map((page) => inline.list(routes, "/p", bytes(page))),
    );
    assert.deepStrictEqual(fromWorker, fromInline);
    assert.deepStrictEqual(
      fromWorker.map((l) => [l.items[0]?.fields.ref.name, l.continue]),
      [
        ["r-0-0", "page-1"],
        ["r-1-0", "page-2"],
        ["r-2-0", ""],
      ],
    );
  });

  it("should decode watch lines in the worker exactly as inline, errors included", async () => {
    const lines = [
      JSON.stringify({ type: "ADDED", object: route("a", "1") }),
      "{broken",
      JSON.stringify({ type: "MODIFIED", object: route("a", "2", "kubectl") }),
    ];
    assert.deepStrictEqual(await worker.events(routes, lines), await inline.events(routes, lines));
  });

  it("should give the page's own error from the worker, with its code and message", async () => {
    const err = await worker.list(routes, "/apis/x", bytes("<html>")).catch((e: unknown) => e);
    assert.ok(err instanceof CrwatchError);
    assert.equal(err.code, "CRW_K8S_HTTP");
    assert.equal(err.message, "GET /apis/x: the answer is not JSON");
  });

  it("should fail what a stopped worker held with CRW_K8S_STREAM, and start a new one for the next", async () => {
    const decoder = new KubeDecoder({ inlineBelowBytes: 0 });
    const big = listBody(
      Array.from({ length: 2000 }, (_, i) => route(`r-${i}`, String(i))),
      "1",
    );
    const held = decoder.list(routes, "/p", bytes(big)).catch((err: unknown) => err);
    await decoder.close();
    const err = await held;
    assert.ok(err instanceof CrwatchError, "the held page fails");
    assert.equal(err.code, "CRW_K8S_STREAM");
    const again = await decoder.list(routes, "/p", bytes(listBody([route("a", "1")], "2")));
    assert.deepStrictEqual(
      again.items.map((i) => i.fields.ref.name),
      ["a"],
    );
    await decoder.close();
  });
});
