import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { parse } from "yaml";
import { FakeApisix, FakeGeneric, FakeKong, FakeLiteLLM } from "../../../test/fake-admin-apis.js";
import { FakeCommit } from "../../../test/fake-commit.js";
import { sharedDir, waitFor } from "../../../test/helpers.js";
import { FakeClock } from "../../core/clock.js";
import type { JsonObject } from "../../model/json.js";
import { type RuntimeHealth, SourceRuntime } from "../runtime.js";
import type { HttpSourceConfig } from "./config.js";
import { createHttpSource } from "./source.js";

const INTERVAL_MS = 30_000;

interface Harness {
  commit: FakeCommit;
  clock: FakeClock;
  health: RuntimeHealth[];
  logs: string[];
  polls(): number;
  lastHealth(): RuntimeHealth;
  /** Lets the wait run out and waits for the poll it starts to finish. */
  next(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve<T extends { start(): Promise<string>; stop(): Promise<void> }>(
  api: T,
): Promise<string> {
  const url = await api.start();
  cleanups.push(() => api.stop());
  return url;
}

async function start(
  config: Omit<HttpSourceConfig, "type" | "name"> & { name?: string },
  random: () => number = () => 0,
): Promise<Harness> {
  const clock = new FakeClock();
  const commit = new FakeCommit();
  const health: RuntimeHealth[] = [];
  const logs: string[] = [];
  let polls = 0;
  const source = createHttpSource(
    { name: "kong", type: "http", interval: "30s", jitter: 0, ...config },
    { random, onPoll: () => void polls++ },
  );
  const runtime = new SourceRuntime([source], {
    commit: commit.commit,
    loadCursors: async () => ({}),
    onHealth: (h) => health.push(h),
    log: pino(
      { level: "debug" },
      new Writable({
        write(chunk, _e, done) {
          logs.push(String(chunk));
          done();
        },
      }),
    ),
    clock,
    random: () => 0,
  });
  runtime.start();
  cleanups.push(() => runtime.stop());
  await waitFor(() => polls >= 1, 10_000, "the first poll");
  return {
    commit,
    clock,
    health,
    logs,
    polls: () => polls,
    lastHealth: () => health.at(-1)!,
    async next() {
      const before = polls;
      await clock.advance(clock.pending()[0]!);
      await waitFor(() => polls > before, 10_000, "the next poll");
    },
  };
}

const PRIVATE_KEY =
  "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";

/** A small shop: three services (two pages at size 2), routes, plugins in every scope. */
function seedKong(kong: FakeKong): void {
  const shop = kong.addService("shop");
  const billing = kong.addService("billing");
  kong.addService("search");
  const shopRoute = kong.addRoute("shop-route", shop, { methods: ["GET"] });
  kong.addRoute("billing-route", billing);
  const alice = kong.addConsumer("alice");
  kong.addPlugin(
    "rate-limiting",
    { route: shopRoute },
    { minute: 20, policy: "local", hour: null },
  );
  kong.addPlugin("key-auth", { service: shop }, { key_names: ["apikey"], hide_credentials: false });
  kong.addPlugin("cors", {}, { origins: ["*"], credentials: false });
  kong.addPlugin("acl", { service: billing, consumer: alice }, { allow: ["gold"] });
  const upstream = kong.addUpstream("shop-upstream");
  kong.addTarget(upstream, "10.0.0.1:8080", 100);
  kong.addTarget(upstream, "10.0.0.2:8080", 0);
  const gold = kong.addConsumerGroup("gold");
  kong.addPlugin("rate-limiting", { consumer_group: gold }, { minute: 100 });
  kong.addCertificate("shop.example.com", PRIVATE_KEY);
}

const ref = (kind: string, name: string, source = "kong") =>
  `${source}:${kind}.deck.konghq.com ${name}`;

describe("http source: Kong preset", () => {
  it("should list every entity as decK keys it, following `next` across pages", async () => {
    const kong = new FakeKong(undefined);
    seedKong(kong);
    const url = await serve(kong);
    const h = await start({ preset: "kong", url, pageSize: 2 });
    const certId = kong.list("certificates")[0]!.id as string;
    assert.deepStrictEqual(h.commit.lines().sort(), [
      `ADDED ${ref("Certificate", certId)}`,
      `ADDED ${ref("Consumer", "alice")}`,
      `ADDED ${ref("ConsumerGroup", "gold")}`,
      `ADDED ${ref("Plugin", "acl@service:billing,consumer:alice")}`,
      `ADDED ${ref("Plugin", "cors")}`,
      `ADDED ${ref("Plugin", "key-auth@service:shop")}`,
      `ADDED ${ref("Plugin", "rate-limiting@consumer_group:gold")}`,
      `ADDED ${ref("Plugin", "rate-limiting@route:shop-route")}`,
      `ADDED ${ref("Route", "billing-route")}`,
      `ADDED ${ref("Route", "shop-route")}`,
      `ADDED ${ref("Service", "billing")}`,
      `ADDED ${ref("Service", "search")}`,
      `ADDED ${ref("Service", "shop")}`,
      `ADDED ${ref("Upstream", "shop-upstream")}`,
    ]);
    assert.ok(
      kong.requests.some((r) => r.url.startsWith("/services?offset=")),
      "the second page of services was read through `next`",
    );
    const route = h.commit.object(ref("Route", "shop-route"))!;
    assert.equal(route.service, "shop", "a reference by id becomes the service's name");
    for (const field of ["id", "created_at", "updated_at", "headers", "tags"]) {
      assert.ok(!(field in route), `${field} is dropped`);
    }
    const plugin = h.commit.object(ref("Plugin", "rate-limiting@route:shop-route"))!;
    assert.deepStrictEqual(plugin.config, { minute: 20, policy: "local", hour: null });
    assert.equal(plugin.route, "shop-route");
    assert.ok(!("service" in plugin) && !("id" in plugin));
    assert.deepStrictEqual(h.commit.object(ref("Upstream", "shop-upstream"))!.targets, [
      { target: "10.0.0.1:8080", weight: 100 },
      { target: "10.0.0.2:8080", weight: 0 },
    ]);
    const cert = h.commit.object(ref("Certificate", certId))!;
    assert.equal(cert.id, certId, "a certificate is keyed by id, so its id stays");
    assert.deepStrictEqual(cert.snis, [{ name: "shop.example.com" }]);
    assert.match(String(cert.key), /^<masked:[0-9a-f]{16}>$/);
    assert.ok(
      !JSON.stringify(h.commit.observations).includes("MIIEvQIBADAN"),
      "no private key emitted",
    );
    assert.equal(h.lastHealth().status, "ok");
  });

  it("should turn a create, a change and a delete into exactly ADDED, MODIFIED and DELETED", async () => {
    const kong = new FakeKong(undefined);
    seedKong(kong);
    const url = await serve(kong);
    const h = await start({ preset: "kong", url, pageSize: 2 });
    const from = h.commit.changes.length;
    kong.addService("reviews");
    kong.find("routes", "shop-route").paths = ["/shop", "/store"];
    kong.remove("plugins", "cors");
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), [
      `ADDED ${ref("Service", "reviews")}`,
      `MODIFIED ${ref("Route", "shop-route")}`,
      `DELETED ${ref("Plugin", "cors")}`,
    ]);
  });

  it("should emit nothing at all when nothing changed", async () => {
    const kong = new FakeKong(undefined);
    seedKong(kong);
    const url = await serve(kong);
    const h = await start({ preset: "kong", url, pageSize: 2 });
    const observations = h.commit.observations.length;
    await h.next();
    await h.next();
    assert.equal(h.commit.observations.length, observations);
    assert.equal(h.lastHealth().status, "ok", h.lastHealth().message);
    assert.match(h.lastHealth().message, /0 changed/);
  });

  it("should ask again with If-None-Match and take a 304 as unchanged, page by page", async () => {
    const kong = new FakeKong(undefined);
    kong.etags = true;
    seedKong(kong);
    const url = await serve(kong);
    const h = await start({ preset: "kong", url, pageSize: 2 });
    const observations = h.commit.observations.length;
    const sent = kong.requests.length;
    await h.next();
    const second = kong.requests.slice(sent);
    assert.ok(second.length > 0);
    const lists = second.filter((r) => !r.url.includes("/targets"));
    assert.ok(
      lists.every((r) => r.status === 304 && r.headers["if-none-match"]),
      "every page 304",
    );
    // An upstream's targets are read again: their changes do not move the list's ETag.
    assert.ok(second.some((r) => r.url.includes("/targets") && r.status === 200));
    assert.equal(h.commit.observations.length, observations);
    // A change on the second page of services: the first page still answers 304.
    kong.find("services", "search").port = 8080;
    const from = h.commit.changes.length;
    const before = kong.requests.length;
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), [`MODIFIED ${ref("Service", "search")}`]);
    const services = kong.requests.slice(before).filter((r) => r.url.startsWith("/services"));
    assert.deepStrictEqual(
      services.map((r) => r.status),
      [304, 200],
    );
  });

  it("should delete nothing when a page fails mid-list, say so, and write one GAP per outage", async () => {
    const kong = new FakeKong(undefined);
    seedKong(kong);
    kong.addService("catalog");
    const url = await serve(kong);
    const h = await start({ preset: "kong", url, pageSize: 2 });
    const from = h.commit.changes.length;
    kong.remove("services", "search"); // two pages still; the second one now fails
    kong.fail(
      "/services?offset=",
      { status: 500, body: '{"message":"An unexpected error occurred"}' },
      1000,
    );
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), [], "no deletion from an incomplete list");
    assert.equal(h.lastHealth().status, "degraded");
    assert.match(h.lastHealth().message, /services: GET .*\/services\?offset=.* answered 500/);
    // Backoff: the next try comes sooner than the interval.
    assert.ok(h.clock.pending()[0]! < INTERVAL_MS, `retry in ${h.clock.pending()[0]} ms`);
    const outageStart = h.clock.now();
    while (h.clock.now() - outageStart <= INTERVAL_MS + 60_000) await h.next();
    assert.deepStrictEqual(h.commit.lines(from), ["GAP CRW_SOURCE_DOWN"], "one GAP for the outage");
    assert.match(h.commit.changes.at(-1)!.reason!, /not fully readable since/);
    kong.clearFaults();
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), [
      "GAP CRW_SOURCE_DOWN",
      `DELETED ${ref("Service", "search")}`,
    ]);
    assert.equal(h.lastHealth().status, "ok");
    // A second outage is a second GAP.
    kong.fail("/upstreams", { status: 503 }, 1000);
    const again = h.clock.now();
    while (h.clock.now() - again <= INTERVAL_MS * 3) await h.next();
    assert.equal(h.commit.lines(from).filter((l) => l.startsWith("GAP")).length, 2);
  });

  it("should keep what a failed list said before it failed, and emit in full once it reads again", async () => {
    const kong = new FakeKong(undefined);
    seedKong(kong);
    kong.addService("catalog");
    const url = await serve(kong);
    const h = await start({ preset: "kong", url, pageSize: 2 });
    const from = h.commit.changes.length;
    kong.find("services", "shop").port = 8443; // first page: read, then the second fails
    kong.fail("/services?offset=", { status: 502 }, 1);
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), [`MODIFIED ${ref("Service", "shop")}`]);
    assert.equal(h.lastHealth().status, "degraded");
    kong.find("services", "shop").port = 80; // back as it was at the last complete read
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), [
      `MODIFIED ${ref("Service", "shop")}`,
      `MODIFIED ${ref("Service", "shop")}`,
    ]);
    assert.equal(h.commit.object(ref("Service", "shop"))!.port, 80);
  });

  it("should count a request that gets no answer as failed after the timeout", async () => {
    const kong = new FakeKong(undefined);
    seedKong(kong);
    const url = await serve(kong);
    const h = await start({ preset: "kong", url, timeout: "5s" });
    const from = h.commit.changes.length;
    kong.remove("consumers", "alice");
    kong.fail("/consumers", { hang: true });
    const polls = h.polls();
    const sent = kong.requests.length;
    await h.clock.advance(h.clock.pending()[0]!);
    await waitFor(() => kong.requests.slice(sent).some((r) => r.url.startsWith("/consumers")));
    await h.clock.advance(5000);
    await waitFor(() => h.polls() > polls);
    assert.equal(h.lastHealth().status, "degraded");
    assert.match(h.lastHealth().message, /consumers: GET .* no answer within 5000 ms/);
    assert.deepStrictEqual(h.commit.lines(from), []);
  });

  it("should skip consumer groups on a Kong that does not serve them, without failing", async () => {
    const kong = new FakeKong(undefined);
    kong.consumerGroups = false;
    seedKong(kong);
    const url = await serve(kong);
    const h = await start({ preset: "kong", url });
    assert.equal(h.lastHealth().status, "ok", h.lastHealth().message);
    assert.ok(kong.requests.some((r) => r.url.startsWith("/consumer_groups") && r.status === 404));
    assert.ok(!h.commit.changes.some((c) => c.ref.includes("ConsumerGroup")));
    assert.ok(h.logs.some((l) => l.includes("does not serve this list")));
  });

  it("should see a target added to an upstream as a change of the upstream", async () => {
    const kong = new FakeKong(undefined);
    seedKong(kong);
    const url = await serve(kong);
    const h = await start({ preset: "kong", url });
    const from = h.commit.changes.length;
    kong.addTarget(kong.find("upstreams", "shop-upstream"), "10.0.0.3:8080", 50);
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), [`MODIFIED ${ref("Upstream", "shop-upstream")}`]);
  });

  it("should wait the interval plus jitter, and back off from 1 s after failed polls", async () => {
    const kong = new FakeKong(undefined);
    seedKong(kong);
    const url = await serve(kong);
    const h = await start({ preset: "kong", url, interval: "30s", jitter: 0.5 }, () => 1);
    assert.deepStrictEqual(h.clock.pending(), [45_000], "30 s + 50% jitter at random = 1");
    kong.fail("/services", { status: 500 }, 3);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      await h.next();
      waits.push(h.clock.pending()[0]!);
    }
    assert.deepStrictEqual(
      waits,
      [1000, 2000, 4000],
      "exponential backoff (random = 1: full delay)",
    );
    await h.next();
    assert.deepStrictEqual(
      h.clock.pending(),
      [45_000],
      "back to the interval once a poll is complete",
    );
  });

  it("should hold back plugins while the services they name were never read", async () => {
    const kong = new FakeKong(undefined);
    seedKong(kong);
    kong.fail("/services", { status: 500 }, 1);
    const url = await serve(kong);
    const h = await start({ preset: "kong", url });
    const kinds = new Set(h.commit.changes.map((c) => c.ref.split(" ")[0]));
    assert.ok(
      !kinds.has("kong:Plugin.deck.konghq.com") && !kinds.has("kong:Route.deck.konghq.com"),
    );
    assert.match(h.lastHealth().message, /routes: not read: needs services first/);
    await h.next();
    assert.equal(h.commit.changes.filter((c) => c.ref.includes("Plugin.")).length, 5);
    assert.equal(h.lastHealth().status, "ok");
  });

  it("should never show the admin token, even when the API echoes it back", async () => {
    const token = "kong-admin-s3cret-t0ken";
    const kong = new FakeKong(["kong-admin-token", "another-token"]);
    seedKong(kong);
    const url = await serve(kong);
    const h = await start({
      preset: "kong",
      url,
      token,
      headers: { "X-Extra": "extra-s3cret-value" },
    });
    assert.equal(kong.requests[0]!.headers["kong-admin-token"], token, "the token is sent");
    assert.equal(h.lastHealth().status, "degraded");
    assert.match(h.lastHealth().message, /answered 401/);
    const everything =
      JSON.stringify(h.health) + h.logs.join("") + JSON.stringify(h.commit.observations);
    assert.ok(everything.includes("***"), "the echo is there, masked");
    assert.ok(!everything.includes(token) && !everything.includes("extra-s3cret-value"));
  });
});

describe("http source: APISIX preset", () => {
  it("should read the APISIX 3 list format page by page with X-API-KEY, and see edits", async () => {
    const apisix = new FakeApisix("edd1c9f034335f136f87ad84b625c8f1");
    const ids = Array.from({ length: 12 }, (_, i) => String(i + 1));
    for (const id of ids) {
      apisix.put("routes", id, {
        id,
        uri: `/r${id}/*`,
        upstream_id: "u1",
        plugins: { "limit-count": { count: 10, time_window: 60, key: "remote_addr" } },
      });
    }
    apisix.put("upstreams", "u1", { id: "u1", type: "roundrobin", nodes: { "10.0.0.1:80": 1 } });
    apisix.put("consumers", "jack", {
      username: "jack",
      plugins: { "key-auth": { key: "jack-auth-key" } },
    });
    const url = await serve(apisix);
    const h = await start({
      name: "apisix",
      preset: "apisix",
      url,
      token: "edd1c9f034335f136f87ad84b625c8f1",
      pageSize: 10,
    });
    const a = (kind: string, name: string) => `apisix:${kind}.apisix.apache.org ${name}`;
    assert.deepStrictEqual(
      h.commit.lines().sort(),
      [
        `ADDED ${a("Consumer", "jack")}`,
        ...ids.map((id) => `ADDED ${a("Route", id)}`),
        `ADDED ${a("Upstream", "u1")}`,
      ].sort(),
    );
    assert.ok(apisix.requests.some((r) => r.url.includes("/routes?page=2&page_size=10")));
    const route = h.commit.object(a("Route", "1"))!;
    assert.deepStrictEqual(route, {
      id: "1",
      uri: "/r1/*",
      upstream_id: "u1",
      plugins: { "limit-count": { count: 10, time_window: 60, key: "remote_addr" } },
    });
    const consumer = h.commit.object(a("Consumer", "jack"))!;
    const key = ((consumer.plugins as JsonObject)["key-auth"] as JsonObject).key;
    assert.match(String(key), /^<masked:/);
    assert.equal(h.lastHealth().status, "ok");

    const from = h.commit.changes.length;
    apisix.put("routes", "2", { id: "2", uri: "/r2/v2/*", upstream_id: "u1" });
    apisix.delete("routes", "3");
    apisix.put("global_rules", "1", { id: "1", plugins: { prometheus: {} } });
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), [
      `MODIFIED ${a("Route", "2")}`,
      `DELETED ${a("Route", "3")}`,
      `ADDED ${a("GlobalRule", "1")}`,
    ]);
  });
});

describe("http source: LiteLLM preset", () => {
  it("should give one Model per deployment, named as a parsed config.yaml names it", async () => {
    const config = parse(
      await readFile(join(sharedDir, "fixtures/litellm/proxy_server_config.yaml"), "utf8"),
    );
    const masterKey = "sk-1234-master";
    const litellm = new FakeLiteLLM(masterKey);
    // /model/info as the proxy answers: api keys stripped, model_info enriched from the cost map.
    const entries = config.model_list as JsonObject[];
    entries.forEach((entry, i) => {
      const { api_key: _hidden, ...params } = entry.litellm_params as JsonObject;
      litellm.list("models").push({
        model_name: entry.model_name as string,
        litellm_params: params as never,
        model_info: {
          id: `hash-${i}`,
          db_model: false,
          input_cost_per_token: 1.5e-6,
          max_tokens: 4096,
          supports_vision: null,
          ...(entry.model_info as JsonObject | undefined),
        } as never,
      });
    });
    const url = await serve(litellm);
    const h = await start({ name: "llm", preset: "litellm", url, token: masterKey });
    const expected: string[] = [];
    const seen = new Map<string, number>();
    for (const entry of entries) {
      const name = entry.model_name as string;
      const n = seen.get(name) ?? 0;
      seen.set(name, n + 1);
      expected.push(`ADDED llm:Model.litellm.ai ${n === 0 ? name : `${name}#${n}`}`);
    }
    assert.deepStrictEqual(h.commit.lines(), expected);
    assert.ok(
      expected.some((l) => l.endsWith("#1")),
      "the fixture has a repeated model_name",
    );
    const first = h.commit.object("llm:Model.litellm.ai gpt-3.5-turbo-end-user-test")!;
    assert.deepStrictEqual(first.model_info, { id: "1" }, "only what config.yaml sets stays");
    assert.equal(litellm.requests[0]!.headers.authorization, `Bearer ${masterKey}`);
    assert.equal(h.lastHealth().status, "ok", "a proxy without /get/config/callbacks is fine");
    // The router settings, where the proxy serves them, as config.yaml's block.
    litellm.routerSettings = config.router_settings ?? { routing_strategy: "simple-shuffle" };
    const from = h.commit.changes.length;
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), [
      "ADDED llm:RouterSettings.litellm.ai router_settings",
    ]);
    assert.deepStrictEqual(
      h.commit.object("llm:RouterSettings.litellm.ai router_settings"),
      litellm.routerSettings,
    );
    assert.ok(
      !JSON.stringify(h.commit.observations).includes("sk-lf-secret"),
      "callbacks are left alone",
    );
  });
});

describe("http source: generic preset", () => {
  it("should follow Link rel=next and read items and ids at dotted paths", async () => {
    const api = new FakeGeneric(undefined);
    for (const id of ["a", "b", "c", "d", "e"])
      api.list("things").push({ meta: { id }, weight: 1 });
    const url = await serve(api);
    const h = await start({
      name: "things",
      preset: "generic",
      url: `${url}/things`,
      generic: {
        items: "result.things",
        id: "meta.id",
        group: "example.com",
        kind: "Thing",
        pagination: { type: "link" },
      },
    });
    assert.deepStrictEqual(
      h.commit.lines(),
      ["a", "b", "c", "d", "e"].map((n) => `ADDED things:Thing.example.com ${n}`),
    );
    assert.equal(api.requests.length, 3);
  });

  it("should follow a cursor field, and fail precisely on an item without an id", async () => {
    const api = new FakeGeneric(undefined);
    for (const id of [1, 2, 3]) api.list("things").push({ id, name: `n${id}` });
    const url = await serve(api);
    const h = await start({
      name: "cur",
      preset: "generic",
      url: `${url}/cursor`,
      generic: {
        items: "items",
        id: "id",
        pagination: { type: "cursor", field: "next_cursor", param: "cursor" },
      },
    });
    assert.deepStrictEqual(
      h.commit.lines(),
      ["1", "2", "3"].map((n) => `ADDED cur:Item.http.crwatch.dev ${n}`),
    );
    api.list("things").push({ name: "no-id" });
    const from = h.commit.changes.length;
    await h.next();
    assert.deepStrictEqual(h.commit.lines(from), []);
    assert.equal(h.lastHealth().status, "degraded");
    assert.match(h.lastHealth().message, /a Item has no value at `id`/);
  });

  it("should refuse a body that is not the expected list with the URL and the reason", async () => {
    const api = new FakeGeneric(undefined);
    const url = await serve(api);
    const h = await start({
      name: "bad",
      preset: "generic",
      url: `${url}/things`,
      generic: { items: "nope", id: "id" },
    });
    assert.equal(h.lastHealth().status, "degraded");
    assert.match(h.lastHealth().message, /\/things: expected an array at `nope`/);
  });
});
