import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { parse } from "yaml";
import { FakeKong } from "../../../test/fake-admin-apis.js";
import { FakeCommit } from "../../../test/fake-commit.js";
import { waitFor } from "../../../test/helpers.js";
import { FakeClock } from "../../core/clock.js";
import { diff } from "../../core/diff.js";
import type { JsonObject } from "../../model/json.js";
import { SourceRuntime } from "../runtime.js";
import { createHttpSource } from "./source.js";

/** What the decK splitter (src/formats/deck.ts, built in parallel) gives, when it is there. */
interface SplitEntity {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  object: JsonObject;
}

async function deckSplitter(): Promise<((doc: JsonObject) => SplitEntity[]) | undefined> {
  const modulePath = "../../formats/deck.js"; // a variable: the module may not exist yet
  try {
    const mod = (await import(modulePath)) as { splitDeck?: (doc: JsonObject) => SplitEntity[] };
    return mod.splitDeck;
  } catch {
    return undefined;
  }
}

/** The decK file that describes the same configuration as `seed` puts in the fake Kong. */
const DECK = (paths: string) => `
_format_version: "3.0"
services:
  - name: shop
    host: shop.internal
    port: 80
    protocol: http
    retries: 5
    connect_timeout: 60000
    read_timeout: 60000
    write_timeout: 60000
    enabled: true
    routes:
      - name: shop-route
        paths: ${paths}
        protocols: [http, https]
        https_redirect_status_code: 426
        regex_priority: 0
        strip_path: true
        path_handling: v0
        preserve_host: false
        request_buffering: true
        response_buffering: true
        plugins:
          - name: rate-limiting
            config: { minute: 20, policy: local }
            protocols: [grpc, grpcs, http, https]
            enabled: true
    plugins:
      - name: key-auth
        config: { key_names: [apikey], hide_credentials: false }
        protocols: [grpc, grpcs, http, https]
        enabled: true
consumers:
  - username: alice
consumer_groups:
  - name: gold
    plugins:
      - name: rate-limiting
        config: { minute: 100 }
        protocols: [grpc, grpcs, http, https]
        enabled: true
upstreams:
  - name: shop-upstream
    algorithm: round-robin
    hash_on: none
    hash_fallback: none
    hash_on_cookie_path: /
    slots: 10000
    healthchecks: { active: { type: http, http_path: /, timeout: 1, concurrency: 10 } }
    use_srv_name: false
    targets:
      - target: 10.0.0.1:8080
        weight: 100
plugins:
  - name: cors
    config: { origins: ["*"] }
    protocols: [grpc, grpcs, http, https]
    enabled: true
`;

function seed(kong: FakeKong): void {
  const shop = kong.addService("shop");
  const route = kong.addRoute("shop-route", shop);
  kong.addPlugin("rate-limiting", { route }, { minute: 20, policy: "local" });
  kong.addPlugin("key-auth", { service: shop }, { key_names: ["apikey"], hide_credentials: false });
  kong.addPlugin("cors", {}, { origins: ["*"] });
  kong.addConsumer("alice");
  const gold = kong.addConsumerGroup("gold");
  kong.addPlugin("rate-limiting", { consumer_group: gold }, { minute: 100 });
  kong.addTarget(kong.addUpstream("shop-upstream"), "10.0.0.1:8080", 100);
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("a polled Kong and the equivalent decK file", () => {
  it("should give the same refs and objects, and after the same edit the same patch", async () => {
    const splitDeck = await deckSplitter();
    assert.ok(splitDeck, "src/formats/deck.ts (the decK splitter) must be there");
    const kong = new FakeKong(undefined);
    seed(kong);
    const url = await kong.start();
    cleanups.push(() => kong.stop());
    const clock = new FakeClock();
    const commit = new FakeCommit();
    let polls = 0;
    const source = createHttpSource(
      { name: "k", type: "http", preset: "kong", url, jitter: 0 },
      { random: () => 0, onPoll: () => void polls++ },
    );
    const runtime = new SourceRuntime([source], {
      commit: commit.commit,
      loadCursors: async () => ({}),
      onHealth: () => undefined,
      log: pino({ level: "silent" }),
      clock,
    });
    runtime.start();
    cleanups.push(() => runtime.stop());
    await waitFor(() => polls >= 1);

    const key = (e: { group: string; kind: string; namespace: string; name: string }) =>
      `${e.group} ${e.kind} ${e.namespace}/${e.name}`;
    const polled = new Map([...commit.heads.values()].map((h) => [key(h.ref), h.object]));
    const before = splitDeck(parse(DECK("[/shop-route]")) as JsonObject).filter(
      (e) => e.kind !== "Config",
    );
    assert.deepStrictEqual([...polled.keys()].sort(), before.map(key).sort());
    for (const entity of before)
      assert.deepStrictEqual(polled.get(key(entity)), entity.object, key(entity));

    kong.find("routes", "shop-route").paths = ["/shop-route", "/store"];
    await clock.advance(clock.pending()[0]!);
    await waitFor(() => polls >= 2);
    const after = splitDeck(parse(DECK("[/shop-route, /store]")) as JsonObject);
    const routeKey = "deck.konghq.com Route /shop-route";
    const deckPatch = diff(
      before.find((e) => key(e) === routeKey)!.object,
      after.find((e) => key(e) === routeKey)!.object,
    );
    const modified = commit.changes.filter((c) => c.type === "MODIFIED");
    assert.equal(modified.length, 1);
    assert.deepStrictEqual(diff(polled.get(routeKey)!, modified[0]!.object!), deckPatch);
    assert.deepStrictEqual(deckPatch, [{ op: "add", path: "/paths/1", value: "/store" }]);
  });
});
