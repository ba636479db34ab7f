import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { Ajv } from "ajv";
import type { Change } from "../model/change.js";
import { type Api, buildApi } from "./server.js";
import { edits, type Fixture, fixture, sampleChanges, TOKENS, testConfig } from "./test-kit.js";

let fx: Fixture;
let api: Api;

async function setUp(config = testConfig()): Promise<void> {
  fx = await fixture(config);
  api = await buildApi(fx.deps);
}

function get(
  path: string,
  token: string | null = TOKENS.viewer,
  headers: Record<string, string> = {},
) {
  return api.app.request(path, {
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

async function json<T = Record<string, unknown>>(res: Response, status = 200): Promise<T> {
  const body = await res.text();
  assert.equal(res.status, status, body);
  return JSON.parse(body) as T;
}

async function expectError(res: Response, status: number, code: string, parameter?: string) {
  const body = await json<{ error: { code: string; parameter?: string; message: string } }>(
    res,
    status,
  );
  assert.equal(body.error.code, code);
  if (parameter !== undefined) assert.equal(body.error.parameter, parameter);
  assert.ok(body.error.message.length > 0);
}

const seqs = (items: Change[]) => items.map((c) => c.seq);

describe("api: access control", () => {
  beforeEach(() => setUp());
  afterEach(async () => {
    await api.close();
    await fx.cleanup();
  });

  it("should answer /healthz and /readyz without a token", async () => {
    assert.deepEqual(await json(await get("/healthz", null)), { status: "ok" });
    assert.deepEqual(await json(await get("/readyz", null)), { status: "ready", lastSeq: 0 });
  });

  it("should refuse a missing token with 401 and a Bearer challenge", async () => {
    const res = await get("/api/v1/changes", null);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="crwatch"');
    await expectError(res, 401, "CRW_API_UNAUTHORIZED");
    await expectError(await get("/metrics", null), 401, "CRW_API_UNAUTHORIZED");
  });

  it("should refuse an unknown or malformed token with 401", async () => {
    await expectError(
      await get("/api/v1/changes", "not-a-known-token"),
      401,
      "CRW_API_UNAUTHORIZED",
    );
    const basic = await get("/api/v1/changes", null, { Authorization: "Basic dTpw" });
    await expectError(basic, 401, "CRW_API_UNAUTHORIZED");
  });

  it("should accept hashed and plain configured tokens, telling who is asking", async () => {
    assert.deepEqual(await json(await get("/api/v1/whoami")), {
      name: "v",
      role: "viewer",
      scope: {},
    });
    const op = await json(await get("/api/v1/whoami", TOKENS.operator));
    assert.deepEqual(op, { name: "o", role: "operator", scope: {} });
  });

  it("should refuse a viewer's dead-letter retry with 403 and allow an operator's and admin's", async () => {
    const retry = (token: string) =>
      api.app.request("/api/v1/sinks/audit/dead-letters/retry", {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: "{}",
      });
    await expectError(await retry(TOKENS.viewer), 403, "CRW_API_FORBIDDEN");
    assert.deepEqual(await json(await retry(TOKENS.operator)), { requeued: 0 });
    assert.deepEqual(await json(await retry(TOKENS.admin)), { requeued: 0 });
  });

  it("should let anyone in as admin with auth none", async () => {
    await api.close();
    await fx.cleanup();
    await setUp(testConfig({ auth: "none", tokens: [] }));
    assert.deepEqual(await json(await get("/api/v1/whoami", null)), {
      name: "anonymous",
      role: "admin",
      scope: {},
    });
  });
});

describe("api: changes", () => {
  beforeEach(async () => {
    await setUp();
    await fx.commit(sampleChanges());
    await fx.commit(edits("cart", 1, 3)); // seq 4-6
  });
  afterEach(async () => {
    await api.close();
    await fx.cleanup();
  });

  it("should page newest first with a cursor until nextCursor is null", async () => {
    type Page = { items: Change[]; nextCursor: string | null };
    const seen: number[] = [];
    let cursor: string | null = "";
    let pages = 0;
    while (cursor !== null) {
      const page: Page = await json(
        await get(`/api/v1/changes?limit=4${cursor ? `&cursor=${cursor}` : ""}`),
      );
      seen.push(...seqs(page.items));
      cursor = page.nextCursor;
      pages++;
    }
    assert.deepEqual(seen, [6, 5, 4, 3, 2, 1]);
    assert.equal(pages, 2);
  });

  it("should page oldest first with order=asc within a seq range", async () => {
    const first = await json<{ items: Change[]; nextCursor: string }>(
      await get("/api/v1/changes?order=asc&since=1&until=5&limit=2"),
    );
    assert.deepEqual(seqs(first.items), [2, 3]);
    const second = await json<{ items: Change[] }>(
      await get(`/api/v1/changes?order=asc&since=1&until=5&limit=2&cursor=${first.nextCursor}`),
    );
    assert.deepEqual(seqs(second.items), [4, 5]);
  });

  it("should filter by source, type, severity, actor, name and ref", async () => {
    const list = async (q: string) =>
      seqs((await json<{ items: Change[] }>(await get(`/api/v1/changes?order=asc&${q}`))).items);
    assert.deepEqual(await list("source=cluster"), [3]);
    assert.deepEqual(await list("type=MODIFIED"), [2, 5, 6]);
    assert.deepEqual(await list("type=ADDED,DELETED"), [1, 3, 4]);
    assert.deepEqual(await list("severity=high,critical"), [2]);
    assert.deepEqual(await list("actor=bob"), [2]);
    assert.deepEqual(await list("name=cart&type=ADDED"), [4]);
    assert.deepEqual(await list("ref=CLUSTER:"), [3]);
    assert.deepEqual(
      await list("from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z"),
      [1, 2, 3, 4, 5, 6],
    );
  });

  it("should answer 400 naming the bad parameter", async () => {
    const bad = async (q: string, parameter: string) =>
      expectError(await get(`/api/v1/changes?${q}`), 400, "CRW_API_BAD_PARAMETER", parameter);
    await bad("limit=0", "limit");
    await bad("limit=ten", "limit");
    await bad("type=ADDED,BOGUS", "type");
    await bad("severity=urgent", "severity");
    await bad("order=sideways", "order");
    await bad("from=yesterday", "from");
    await bad("cursor=-1", "cursor");
    await bad("bogus=1", "bogus");
  });

  it("should show one change with the objects before and after and its findings", async () => {
    const body = await json<{
      change: Change;
      before: { spec: unknown };
      after: { spec: unknown };
      findings: unknown[];
    }>(await get("/api/v1/changes/2"));
    assert.equal(body.change.seq, 2);
    assert.deepEqual(body.before.spec, { hostnames: ["r1.example.com"] });
    assert.deepEqual(body.after.spec, { hostnames: ["r2.example.com"] });
    assert.equal(body.findings.length, 1);
    await expectError(await get("/api/v1/changes/99"), 404, "CRW_API_NOT_FOUND");
    await expectError(await get("/api/v1/changes/abc"), 400, "CRW_API_BAD_PARAMETER", "seq");
  });
});

describe("api: resources, sources, sinks", () => {
  beforeEach(async () => {
    await setUp();
    await fx.commit(sampleChanges());
  });
  afterEach(async () => {
    await api.close();
    await fx.cleanup();
  });

  type Resource = { id: string; revision: number; ref: { name: string }; object: unknown };

  it("should list current resources a page at a time and read one by id", async () => {
    const first = await json<{ items: Resource[]; nextCursor: string }>(
      await get("/api/v1/resources?limit=1"),
    );
    assert.deepEqual(
      first.items.map((r) => r.ref.name),
      ["api"],
    );
    const second = await json<{ items: Resource[]; nextCursor: string | null }>(
      await get(`/api/v1/resources?limit=1&cursor=${first.nextCursor}`),
    );
    assert.deepEqual(
      second.items.map((r) => `${r.ref.name}@${r.revision}`),
      ["storefront@2"],
    );
    const id = second.items[0]?.id as string;
    const one = await json<Resource>(await get(`/api/v1/resources/${id}`));
    assert.equal(one.revision, 2);
    const filtered = await json<{ items: Resource[] }>(
      await get("/api/v1/resources?source=cluster"),
    );
    assert.deepEqual(
      filtered.items.map((r) => r.ref.name),
      ["api"],
    );
  });

  it("should list a resource's revisions, read one, and diff any two", async () => {
    const { items } = await json<{ items: Resource[] }>(
      await get("/api/v1/resources?name=storefront"),
    );
    const id = items[0]?.id as string;
    const revisions = await json<{ items: { revision: number; change: { type: string } }[] }>(
      await get(`/api/v1/resources/${id}/revisions`),
    );
    assert.deepEqual(
      revisions.items.map((r) => `${r.revision}:${r.change.type}`),
      ["1:ADDED", "2:MODIFIED"],
    );
    const r1 = await json<Resource>(await get(`/api/v1/resources/${id}/revisions/1`));
    assert.deepEqual((r1.object as { spec: unknown }).spec, { hostnames: ["r1.example.com"] });
    const diff = await json<{ patch: unknown[]; summary: string[] }>(
      await get(`/api/v1/resources/${id}/diff?from=1&to=2`),
    );
    assert.deepEqual(diff.patch, [
      { op: "replace", path: "/spec/hostnames/0", value: "r2.example.com" },
    ]);
    assert.equal(diff.summary.length, 1);
    await expectError(await get(`/api/v1/resources/${id}/revisions/7`), 404, "CRW_API_NOT_FOUND");
    await expectError(
      await get(`/api/v1/resources/${id}/diff?from=1`),
      400,
      "CRW_API_BAD_PARAMETER",
      "to",
    );
    await expectError(
      await get("/api/v1/resources/bm90LWpzb24"),
      400,
      "CRW_API_BAD_PARAMETER",
      "id",
    );
  });

  it("should list sources with health, cursors and problems", async () => {
    await fx.store.setSourceHealth({
      source: "local",
      status: "ok",
      message: "",
      updatedAt: "2026-01-01T00:00:00.000Z",
    });
    const { items } = await json<{ items: { name: string; health: { status: string } | null }[] }>(
      await get("/api/v1/sources"),
    );
    assert.deepEqual(
      items.map((s) => `${s.name}:${s.health?.status}`),
      ["local:ok"],
    );
  });

  it("should list sinks with lag and dead letters, and requeue them for an operator", async () => {
    await fx.store.advanceConsumer("sink:audit", 2, [
      { consumer: "sink:audit", seq: 2, error: "refused", attempts: 3 },
    ]);
    const sinks = await json<{ items: { name: string; lag: number; deadLetters: number }[] }>(
      await get("/api/v1/sinks"),
    );
    assert.deepEqual(sinks.items, [
      { ...sinks.items[0], name: "audit", cursor: 2, lag: 1, deadLetters: 1, retrying: 0 },
    ]);
    const letters = await json<{ items: { id: number }[] }>(
      await get("/api/v1/sinks/audit/dead-letters"),
    );
    assert.equal(letters.items.length, 1);
    let woken = 0;
    fx.deps.onDeadLettersRequeued = () => woken++;
    const res = await api.app.request("/api/v1/sinks/audit/dead-letters/retry", {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKENS.operator}` },
      body: JSON.stringify({ ids: [letters.items[0]?.id] }),
    });
    assert.deepEqual(await json(res), { requeued: 1 });
    assert.equal(woken, 1);
    assert.equal((await fx.store.listDeadLetters({ state: "retry" })).length, 1);
    await expectError(await get("/api/v1/sinks/nope/dead-letters"), 404, "CRW_API_NOT_FOUND");
  });

  it("should refuse a bad retry body with 400 and a body over the limit with 413", async () => {
    const post = (body: string) =>
      api.app.request("/api/v1/sinks/audit/dead-letters/retry", {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKENS.operator}`, "Content-Type": "application/json" },
        body,
      });
    await expectError(await post("{not json"), 400, "CRW_API_BAD_PARAMETER", "body");
    await expectError(await post('{"ids":["x"]}'), 400, "CRW_API_BAD_PARAMETER", "body.ids.0");
    const huge = JSON.stringify({ ids: Array.from({ length: 20_000 }, (_, i) => i + 1) });
    assert.ok(huge.length > fx.deps.config.maxBodyBytes);
    await expectError(await post(huge), 413, "CRW_API_BODY_TOO_LARGE");
  });

  it("should answer unknown routes with a JSON 404", async () => {
    await expectError(await get("/api/v1/nothing-here"), 404, "CRW_API_NOT_FOUND");
    await expectError(await get("/nothing", null), 404, "CRW_API_NOT_FOUND");
  });

  it("should serve Prometheus metrics read from the log", async () => {
    await get("/api/v1/changes");
    const res = await get("/metrics");
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^crwatch_changes_total 3$/m);
    assert.match(text, /^crwatch_sink_lag_changes\{sink="audit"\} 3$/m);
    assert.match(
      text,
      /crwatch_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/changes",status="200"\} 1/,
    );
    assert.doesNotMatch(text, new RegExp(TOKENS.viewer));
  });

  it("should serve the UI page without a token", async () => {
    const res = await get("/", null);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await res.text(), /<ol id="timeline"/);
    assert.equal((await get("/ui/app.js", null)).status, 200);
  });
});

describe("api: OpenAPI document", () => {
  beforeEach(() => setUp());
  afterEach(async () => {
    await api.close();
    await fx.cleanup();
  });

  it("should be valid JSON whose parameter and body schemas ajv compiles", async () => {
    const doc = await json<{
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            parameters: { schema: object }[];
            requestBody?: { content: Record<string, { schema: object }> };
          }
        >
      >;
    }>(await get("/api/v1/openapi.json"));
    assert.equal(doc.openapi, "3.1.0");
    const ajv = new Ajv({ strict: false });
    let compiled = 0;
    for (const methods of Object.values(doc.paths)) {
      for (const op of Object.values(methods)) {
        for (const p of op.parameters) {
          ajv.compile(p.schema);
          compiled++;
        }
        const body = op.requestBody?.content["application/json"]?.schema;
        if (body) ajv.compile(body);
      }
    }
    assert.ok(compiled > 20);
  });

  it("should describe every route the app serves, and no other", async () => {
    const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(
      await get("/api/v1/openapi.json"),
    );
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    const served = new Set(
      api.app.routes
        .filter((r) => r.method !== "ALL" && !r.path.startsWith("/ui/") && r.path !== "/")
        .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
    );
    assert.deepEqual([...served].sort(), [...documented].sort());
  });
});
