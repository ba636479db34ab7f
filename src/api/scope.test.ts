import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { Change } from "../model/change.js";
import { resourceChange, routeRef } from "../store/contract.js";
import { tokenDigest } from "./auth.js";
import { resourceId } from "./resources.js";
import { type Api, buildApi } from "./server.js";
import { readEvents, type SseEvent } from "./sse.js";
import { type Fixture, fixture, TOKENS, testConfig } from "./test-kit.js";

const SCOPED = {
  edge: "edge-viewer-token-0123456789",
  cluster: "cluster-source-token-0123456789",
  both: "edge-in-local-token-0123456789",
};

let fx: Fixture;
let api: Api;

/** seq 1 local edge/gw, 2 local shop/cart, 3 cluster edge/ingress, 4 local edge/gw again. */
const changes = () => [
  resourceChange("ADDED", routeRef("gw", { namespace: "edge" }), 1),
  resourceChange("ADDED", routeRef("cart"), 1),
  resourceChange("ADDED", routeRef("ingress", { namespace: "edge", source: "cluster" }), 1),
  resourceChange("MODIFIED", routeRef("gw", { namespace: "edge" }), 2),
];

function get(path: string, token: string) {
  return api.app.request(path, { headers: { Authorization: `Bearer ${token}` } });
}

async function body<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text) as T;
}

async function forbidden(res: Response, pattern: RegExp): Promise<void> {
  const { error } = await body<{ error: { code: string; message: string } }>(res, 403);
  assert.equal(error.code, "CRW_API_FORBIDDEN");
  assert.match(error.message, pattern);
}

const seqs = (items: Change[]) => items.map((c) => c.seq);

describe("api: tokens scoped to a namespace or a source", () => {
  beforeEach(async () => {
    const config = testConfig();
    config.tokens.push(
      { name: "edge-team", role: "viewer", sha256: tokenDigest(SCOPED.edge), namespace: "edge" },
      { name: "cluster-ops", role: "operator", token: SCOPED.cluster, source: "cluster" },
      {
        name: "edge-local",
        role: "admin",
        sha256: tokenDigest(SCOPED.both),
        namespace: "edge",
        source: "local",
      },
    );
    fx = await fixture(config);
    api = await buildApi(fx.deps);
    await fx.commit(changes());
  });
  afterEach(async () => {
    await api.close();
    await fx.cleanup();
  });

  it("should list only the changes in the token's scope, in full pages", async () => {
    const list = async (token: string, query = "") =>
      body<{ items: Change[] }>(await get(`/api/v1/changes?order=asc${query}`, token));
    assert.deepEqual(seqs((await list(SCOPED.edge)).items), [1, 3, 4]);
    assert.deepEqual(seqs((await list(SCOPED.cluster)).items), [3]);
    assert.deepEqual(seqs((await list(SCOPED.both)).items), [1, 4]);
    assert.deepEqual(seqs((await list(TOKENS.viewer)).items), [1, 2, 3, 4]);
    // Pages are cut by the store after the scope's filter: a page of 2 holds 2 in scope.
    const page = await list(SCOPED.edge, "&limit=2");
    assert.deepEqual(seqs(page.items), [1, 3]);
    // Filters inside the scope narrow further; one naming another scope is refused.
    assert.deepEqual(seqs((await list(SCOPED.edge, "&source=local")).items), [1, 4]);
    assert.deepEqual(seqs((await list(SCOPED.edge, "&namespace=edge")).items), [1, 3, 4]);
    await forbidden(
      await get("/api/v1/changes?namespace=shop", SCOPED.edge),
      /edge-team.*namespace "edge".*namespace "shop"/,
    );
    await forbidden(await get("/api/v1/changes?source=local", SCOPED.cluster), /source/);
  });

  it("should refuse one change outside the scope with 403 and show one inside", async () => {
    await forbidden(await get("/api/v1/changes/2", SCOPED.edge), /change 2 is outside/);
    await forbidden(await get("/api/v1/changes/3", SCOPED.both), /change 3/);
    const shown = await body<{ change: Change }>(await get("/api/v1/changes/3", SCOPED.edge));
    assert.equal(shown.change.ref.name, "ingress");
    assert.equal((await get("/api/v1/changes/99", SCOPED.edge)).status, 404);
  });

  it("should list and show only the resources in scope", async () => {
    const { items } = await body<{ items: { id: string; ref: { name: string } }[] }>(
      await get("/api/v1/resources", SCOPED.edge),
    );
    assert.deepEqual(items.map((r) => r.ref.name).sort(), ["gw", "ingress"]);
    const cart = resourceId(routeRef("cart"));
    for (const path of ["", "/revisions", "/revisions/1", "/diff?from=1&to=1"]) {
      await forbidden(await get(`/api/v1/resources/${cart}${path}`, SCOPED.edge), /resource/);
    }
    const gw = resourceId(routeRef("gw", { namespace: "edge" }));
    const revisions = await body<{ items: unknown[] }>(
      await get(`/api/v1/resources/${gw}/revisions`, SCOPED.edge),
    );
    assert.equal(revisions.items.length, 2);
    await forbidden(await get(`/api/v1/resources?namespace=shop`, SCOPED.edge), /shop/);
  });

  it("should stream only the changes in scope, backlog and live", async () => {
    const res = await get("/api/v1/watch?since=0", SCOPED.edge);
    assert.equal(res.status, 200);
    const events = readEvents(res.body as ReadableStream<Uint8Array>);
    const seen: SseEvent[] = [];
    const next = async () => {
      for (;;) {
        const { value, done } = await events.next();
        assert.ok(!done, "the stream ended");
        if (value.event === "change") return value;
      }
    };
    for (let i = 0; i < 3; i++) seen.push(await next());
    await fx.commit([
      resourceChange("MODIFIED", routeRef("cart"), 2), // 5: shop, not shown
      resourceChange("ADDED", routeRef("api", { namespace: "edge" }), 1), // 6
    ]);
    seen.push(await next());
    assert.deepEqual(
      seen.map((e) => Number(e.id)),
      [1, 3, 4, 6],
    );
    await events.return(undefined);
    await forbidden(await get("/api/v1/watch?namespace=shop", SCOPED.edge), /shop/);
  });

  it("should show sources in scope, and refuse metrics and dead letters to scoped tokens", async () => {
    // The fixture configures the source "local" only.
    const names = async (token: string) =>
      (await body<{ items: { name: string }[] }>(await get("/api/v1/sources", token))).items.map(
        (s) => s.name,
      );
    assert.deepEqual(await names(SCOPED.both), ["local"]);
    assert.deepEqual(await names(SCOPED.cluster), []);
    assert.deepEqual(await names(TOKENS.viewer), ["local"]);
    const forEdge = await body<{ items: { openProblems: unknown }[] }>(
      await get("/api/v1/sources", SCOPED.edge),
    );
    assert.ok(forEdge.items.every((s) => s.openProblems === null));
    await forbidden(await get("/metrics", SCOPED.edge), /spans every scope/);
    await forbidden(await get("/api/v1/sinks/audit/dead-letters", SCOPED.both), /every scope/);
    const retry = await api.app.request("/api/v1/sinks/audit/dead-letters/retry", {
      method: "POST",
      headers: { Authorization: `Bearer ${SCOPED.cluster}`, "Content-Type": "application/json" },
      body: "{}",
    });
    await forbidden(retry, /every scope/);
    assert.equal((await get("/metrics", TOKENS.viewer)).status, 200);
    const me = await body<{ scope: unknown }>(await get("/api/v1/whoami", SCOPED.both));
    assert.deepEqual(me.scope, { namespace: "edge", source: "local" });
  });
});
