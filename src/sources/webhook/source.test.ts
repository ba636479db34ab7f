import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { FakeCommit } from "../../../test/fake-commit.js";
import { FakeClock } from "../../core/clock.js";
import { SourceRuntime } from "../runtime.js";
import type { WebhookSourceConfig } from "./config.js";
import { WebhookVerifier } from "./signature.js";
import { createWebhookSource } from "./source.js";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const signer = new WebhookVerifier(SECRET, 300_000);
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface Harness {
  commit: FakeCommit;
  clock: FakeClock;
  /** POSTs `body`, signed now (or as `sign` says). */
  push(body: string, options?: PushOptions): Promise<Answer>;
}

interface PushOptions {
  id?: string;
  /** Seconds added to the clock's now for the timestamp. */
  skew?: number;
  signature?: string;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
  contentType?: string;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

let ids = 0;

async function start(config: Partial<WebhookSourceConfig> = {}): Promise<Harness> {
  const clock = new FakeClock();
  const commit = new FakeCommit();
  const source = createWebhookSource({
    name: "pushes",
    type: "webhook",
    listen: "127.0.0.1:0",
    secret: SECRET,
    ...config,
  });
  const runtime = new SourceRuntime([source], {
    commit: commit.commit,
    loadCursors: async () => ({}),
    onHealth: () => undefined,
    log: pino({ level: "silent" }),
    clock,
  });
  runtime.start();
  cleanups.push(() => runtime.stop());
  const { port } = await source.listening();
  return {
    commit,
    clock,
    push: (body, options = {}) => {
      const id = options.id ?? `msg_${++ids}`;
      const timestamp = String(Math.floor(clock.now() / 1000) + (options.skew ?? 0));
      const headers: Record<string, string> = {
        "content-type": options.contentType ?? "application/json",
        "webhook-id": id,
        "webhook-timestamp": timestamp,
        "webhook-signature": options.signature ?? signer.sign(id, timestamp, body),
        ...options.headers,
      };
      return post(port, options.path ?? "/", options.method ?? "POST", headers, body);
    },
  };
}

function post(
  port: number,
  path: string,
  method: string,
  headers: Record<string, string>,
  body: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString() || "{}"),
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

const route = (name: string, weight = 90) =>
  JSON.stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: "shop" },
    spec: { rules: [{ backendRefs: [{ name: "v1", weight }] }] },
  });
const ROUTE_REF = (name: string) => `pushes:HTTPRoute.gateway.networking.k8s.io shop/${name}`;

describe("webhook source", () => {
  it("should commit a signed resource before it answers 200", async () => {
    const h = await start();
    const answer = await h.push(route("storefront"), { id: "msg_first" });
    assert.equal(answer.status, 200);
    assert.deepStrictEqual(answer.body, { status: "committed", webhookId: "msg_first", events: 1 });
    assert.deepStrictEqual(
      h.commit.lines(),
      [`ADDED ${ROUTE_REF("storefront")}`],
      "committed by the time of the 2xx",
    );
    assert.deepStrictEqual(h.commit.observations[0]!.cause, { kind: "webhook", id: "msg_first" });
  });

  it("should apply an envelope of upserts, deletions and a scoped snapshot, with actor and cause, in YAML", async () => {
    const h = await start();
    await h.push(`[${route("a")}, ${route("b")}, ${route("c")}]`);
    const yaml = [
      "actor: { name: jane, email: jane@example.com }",
      "cause: { kind: deploy, id: change-42, message: shift traffic }",
      "upsert:",
      `  - ${route("a", 10)}`,
      "delete:",
      "  - { apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, namespace: shop, name: b }",
      "",
    ].join("\n");
    const answer = await h.push(yaml, { contentType: "application/yaml" });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepStrictEqual(h.commit.lines(3), [
      `MODIFIED ${ROUTE_REF("a")}`,
      `DELETED ${ROUTE_REF("b")}`,
    ]);
    const observation = h.commit.observations.at(-1)!;
    assert.deepStrictEqual(observation.actor, {
      via: "webhook",
      name: "jane",
      email: "jane@example.com",
    });
    assert.deepStrictEqual(observation.cause, {
      kind: "deploy",
      id: "change-42",
      message: "shift traffic",
    });
    const snapshot = JSON.stringify({
      snapshot: {
        scope: { group: "gateway.networking.k8s.io", kind: "HTTPRoute" },
        items: [JSON.parse(route("a", 10))],
      },
    });
    await h.push(snapshot);
    assert.deepStrictEqual(h.commit.lines(5), [`DELETED ${ROUTE_REF("c")}`]);
  });

  it("should accept a kind it has never heard of as a generic resource", async () => {
    const h = await start();
    const body = JSON.stringify({
      apiVersion: "example.com/v1alpha1",
      kind: "Frobnicator",
      metadata: { name: "f1" },
      spec: { x: 1 },
    });
    const answer = await h.push(body);
    assert.equal(answer.status, 200);
    assert.deepStrictEqual(h.commit.lines(), ["ADDED pushes:Frobnicator.example.com f1"]);
  });

  it("should refuse a forged, unsigned, stale or future push with 401 and change nothing", async () => {
    const h = await start();
    const forged = signer.sign("msg_other", Math.floor(h.clock.now() / 1000), route("x"));
    const cases: [PushOptions, RegExp][] = [
      [{ signature: forged }, /no valid v1 signature/],
      [{ signature: "v1,dawfeoifkpqwoekfpqoekf" }, /no valid v1 signature/],
      [{ headers: { "webhook-signature": "" } }, /missing header webhook-signature/],
      [{ skew: -301 }, /too old/],
      [{ skew: 301 }, /too far in the future/],
    ];
    for (const [options, pattern] of cases) {
      const answer = await h.push(route("x"), options);
      assert.equal(answer.status, 401, JSON.stringify(options));
      assert.match(String(answer.body.error), /^CRW_WEBHOOK_SIGNATURE: /);
      assert.match(String(answer.body.error), pattern);
    }
    assert.equal(h.commit.observations.length, 0);
    // The window is judged on the injected clock: a push from 400 s ahead is refused now,
    // and the very same push (same id, timestamp and signature) is accepted 400 s later.
    const early = await h.push(route("late"), { id: "msg_late", skew: 400 });
    assert.equal(early.status, 401);
    await h.clock.advance(400_000);
    const late = await h.push(route("late"), { id: "msg_late" });
    assert.equal(late.status, 200);
    assert.deepStrictEqual(h.commit.lines(), [`ADDED ${ROUTE_REF("late")}`]);
  });

  it("should apply the same webhook-id once, answering a replay 200 as the first", async () => {
    const h = await start();
    const first = await h.push(route("r"), { id: "msg_dup" });
    const again = await h.push(route("r"), { id: "msg_dup" });
    assert.equal(first.status, 200);
    assert.equal(again.status, 200);
    assert.equal(again.body.duplicate, true);
    const both = await Promise.all([
      h.push(route("s"), { id: "msg_race" }),
      h.push(route("s"), { id: "msg_race" }),
    ]);
    assert.deepStrictEqual(
      both.map((a) => a.status),
      [200, 200],
    );
    assert.equal(h.commit.observations.length, 2, "each id applied once");
  });

  it("should refuse a body over the limit with 413 and change nothing", async () => {
    const h = await start({ maxBodyBytes: 1024 });
    const big = JSON.stringify({ ...JSON.parse(route("big")), padding: "x".repeat(2000) });
    const answer = await h.push(big);
    assert.equal(answer.status, 413);
    assert.match(String(answer.body.error), /CRW_WEBHOOK_TOO_LARGE: body larger than 1024 bytes/);
    assert.equal(h.commit.observations.length, 0);
  });

  it("should refuse an unreadable body with 400 and the precise reason", async () => {
    const h = await start();
    const cases: [string, string, RegExp][] = [
      [
        '{"apiVersion": "v1",\n  "kind": }',
        "application/json",
        /invalid JSON: Unexpected token '}'/,
      ],
      ['{"apiVersion": "v1",\n}', "application/json", /invalid JSON: .* \(line 2, column 1\)/],
      ["upsert:\n  - {apiVersion: v1\n", "application/yaml", /invalid YAML: line \d+, column \d+/],
      ["", "application/json", /the body is empty/],
      [
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}',
        "application/json",
        /\[0\]: metadata.name must be a non-empty string/,
      ],
      ['{"upsert":[],"remove":[]}', "application/json", /unknown field\(s\) remove/],
      [
        '{"delete":[{"kind":"X","name":"y"}]}',
        "application/json",
        /delete\[0\]: needs apiVersion or group/,
      ],
      [
        '"just a string"',
        "application/json",
        /must be a resource, a list of resources, or an envelope/,
      ],
    ];
    for (const [body, contentType, pattern] of cases) {
      const answer = await h.push(body, { contentType });
      assert.equal(answer.status, 400, body);
      assert.match(String(answer.body.error), /^CRW_WEBHOOK_BODY: /);
      assert.match(String(answer.body.error), pattern);
    }
    assert.equal(h.commit.observations.length, 0);
  });

  it("should answer 404 off its path and 405 to other methods", async () => {
    const h = await start({ path: "/hooks/crwatch" });
    assert.equal((await h.push(route("p"), { path: "/elsewhere" })).status, 404);
    assert.equal((await h.push(route("p"), { path: "/hooks/crwatch", method: "PUT" })).status, 405);
    assert.equal((await h.push(route("p"), { path: "/hooks/crwatch" })).status, 200);
  });

  it("should record 1,000 concurrent pushes (each sent twice) exactly once each", async () => {
    const h = await start();
    const pushes = Array.from({ length: 1000 }, (_, i) => ({
      id: `msg_bulk_${i}`,
      body: route(`bulk-${i}`),
    }));
    const answers = await Promise.all(
      [...pushes, ...pushes].map((p) => h.push(p.body, { id: p.id })),
    );
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(answers.filter((a) => a.body.duplicate === true).length, 1000);
    assert.equal(h.commit.observations.length, 1000);
    const refs = new Set(h.commit.changes.map((c) => c.ref));
    assert.equal(refs.size, 1000);
    assert.ok(h.commit.changes.every((c) => c.type === "ADDED"));
  });
});
