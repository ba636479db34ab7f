import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readEvents, type SseEvent } from "../../src/api/sse.js";
import type { Change } from "../../src/model/change.js";
import { tempDir, waitFor } from "../helpers.js";
import { cli, type Served, serve } from "./process.js";

const route = (
  namespace: string,
  name: string,
  weight = 100,
) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { namespace: ${namespace}, name: ${name} }
spec:
  rules:
    - backendRefs: [{ name: v1, port: 80, weight: ${weight} }]
`;

/** `crwatch tokens create …`: the token printed once, and the config entry to paste. */
function createToken(args: string[]): { token: string; entry: string } {
  const out = cli(["tokens", "create", ...args]);
  assert.equal(out.status, 0, out.stderr);
  const token = /shown once; give it to \S+\): (crw_\S+)/.exec(out.stdout)?.[1];
  const entry = /^\s+(- \{.*\})$/m.exec(out.stdout)?.[1];
  assert.ok(token && entry, out.stdout);
  assert.ok(!entry.includes(token), "the config entry holds the digest, not the token");
  return { token, entry };
}

describe("crwatch serve with tokens scoped by namespace and source, over a real socket", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let served: Served;
  let url: string;
  const edge = createToken(["--role", "viewer", "--name", "edge-team", "--namespace", "edge"]);
  const local = createToken(["--role", "viewer", "--name", "local-ops", "--source", "local"]);
  const all = createToken(["--role", "viewer", "--name", "everyone"]);
  const get = (path: string, token: string) =>
    fetch(`${url}${path}`, { headers: { Authorization: `Bearer ${token}` } });

  before(async () => {
    tmp = await tempDir("crwatch-e2e-scopes-");
    await mkdir(join(tmp.path, "a"));
    await mkdir(join(tmp.path, "b"));
    await writeFile(join(tmp.path, "a", "gw.yaml"), route("edge", "gw"));
    await writeFile(join(tmp.path, "a", "cart.yaml"), route("shop", "cart"));
    await writeFile(join(tmp.path, "b", "ingress.yaml"), route("edge", "ingress"));
    await writeFile(
      join(tmp.path, "crwatch.yaml"),
      [
        "store: { path: ./data }",
        "sources:",
        "  - { name: local, type: files, paths: [./a], debounceMs: 20 }",
        "  - { name: other, type: files, paths: [./b], debounceMs: 20 }",
        "sinks: []",
        "api:",
        "  listen: '127.0.0.1:0'",
        "  tokens:",
        ...[edge, local, all].map((t) => `    ${t.entry}`),
      ].join("\n"),
    );
    served = serve(["--config", join(tmp.path, "crwatch.yaml")]);
    const line = await waitFor(
      () => /API and UI at (http:\/\/[^\s"]+)/.exec(served.stderr()),
      20_000,
      "the API address",
    );
    url = line[1] as string;
    await waitFor(
      async () => {
        const res = await get("/api/v1/changes", all.token);
        return ((await res.json()) as { items: Change[] }).items.length >= 3;
      },
      20_000,
      "the three routes recorded",
    );
  });
  after(async () => {
    served.child.kill("SIGTERM");
    await served.exited;
    await tmp.cleanup();
  });

  const names = async (path: string, token: string) => {
    const res = await get(path, token);
    assert.equal(res.status, 200);
    const { items } = (await res.json()) as { items: { ref: { name: string } }[] };
    return items.map((c) => c.ref.name).sort();
  };

  it("should list only what each token's scope holds", async () => {
    assert.deepEqual(await names("/api/v1/changes", edge.token), ["gw", "ingress"]);
    assert.deepEqual(await names("/api/v1/changes", local.token), ["cart", "gw"]);
    assert.deepEqual(await names("/api/v1/changes", all.token), ["cart", "gw", "ingress"]);
    assert.deepEqual(await names("/api/v1/resources", edge.token), ["gw", "ingress"]);
    const cart = (
      (await (await get("/api/v1/changes?name=cart", all.token)).json()) as {
        items: Change[];
      }
    ).items[0] as Change;
    const refused = await get(`/api/v1/changes/${cart.seq}`, edge.token);
    assert.equal(refused.status, 403);
    assert.equal(
      ((await refused.json()) as { error: { code: string } }).error.code,
      "CRW_API_FORBIDDEN",
    );
    assert.equal((await get(`/api/v1/changes/${cart.seq}`, local.token)).status, 200);
    assert.equal((await get("/api/v1/changes?namespace=shop", edge.token)).status, 403);
  });

  it("should stream to a scoped token only the live changes in its scope", async () => {
    const abort = new AbortController();
    const res = await fetch(`${url}/api/v1/watch`, {
      headers: { Authorization: `Bearer ${edge.token}` },
      signal: abort.signal,
    });
    assert.equal(res.status, 200);
    const events = readEvents(res.body as ReadableStream<Uint8Array>);
    await writeFile(join(tmp.path, "a", "cart.yaml"), route("shop", "cart", 50));
    await waitFor(
      async () => (await names("/api/v1/changes?type=MODIFIED", all.token)).includes("cart"),
      20_000,
      "the cart edit recorded",
    );
    await writeFile(join(tmp.path, "b", "ingress.yaml"), route("edge", "ingress", 50));
    let first: SseEvent | undefined;
    for await (const event of events) {
      if (event.event !== "change") continue;
      first = event;
      break;
    }
    // The shop edit came first in the log; the edge token's stream skips it.
    const change = JSON.parse(first?.data ?? "{}") as Change;
    assert.equal(change.ref.name, "ingress");
    assert.equal(change.type, "MODIFIED");
    abort.abort();
  });
});
