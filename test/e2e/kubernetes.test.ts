import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config/load.js";
import { type Crwatch, startCrwatch } from "../../src/main.js";
import { fixtureObjects, installFixtureCrds, writeKubeconfig } from "../fake-kube/fixtures.js";
import { FakeKubeServer } from "../fake-kube/server.js";
import { tempDir, waitFor } from "../helpers.js";

const GW = "gateway.networking.k8s.io";
const EG = "gateway.envoyproxy.io";

/**
 * The whole composition root with a `kubernetes` source from crwatch.yaml, against the fake
 * API server: the changes it records, and one GAP when a kind's watch expires.
 */
describe("crwatch with a kubernetes source (end to end)", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let server: FakeKubeServer;
  let crwatch: Crwatch;
  const output: string[] = [];
  /** 4 HTTPRoutes and 3 SecurityPolicies from the Envoy Gateway example. */
  let initial = 0;

  before(async () => {
    dir = await tempDir("crwatch-e2e-k8s-");
    server = new FakeKubeServer({ token: "e2e-token" });
    const url = await server.start();
    await installFixtureCrds(server, ["HTTPRoute", "SecurityPolicy"]);
    const seeded = await fixtureObjects("envoy-gateway/basic-auth.yaml", [
      "HTTPRoute",
      "SecurityPolicy",
    ]);
    for (const o of seeded) server.apply(o);
    initial = seeded.length;
    await writeKubeconfig(dir.path, url, "e2e-token");
    const configPath = join(dir.path, "crwatch.yaml");
    await writeFile(
      configPath,
      [
        "store: {path: ./data}",
        "sources:",
        "  - name: cluster",
        "    type: kubernetes",
        "    kubeconfig: ./kubeconfig",
        "    context: fake",
        "    resources:",
        `      - ${GW}/HTTPRoute`,
        `      - ${EG}/SecurityPolicy`,
        "    stallTimeout: 5m",
        "sinks:",
        "  - {name: out, type: jsonl, path: '-'}",
        "",
      ].join("\n"),
    );
    const config = await loadConfig({ configPath, env: {} });
    const stdout = new Writable({
      write(chunk, _enc, done) {
        output.push(String(chunk));
        done();
      },
    });
    crwatch = await startCrwatch(config, { log: pino({ level: "silent" }), stdout });
    await crwatch.ready();
  });

  after(async () => {
    await crwatch?.stop();
    await server?.close();
    await dir?.cleanup();
  });

  const changes = () => crwatch.store.readChanges({ afterSeq: 0 });

  it("should record ADDED from the initial list, MODIFIED and DELETED from the watch, and a GAP on 410", async () => {
    assert.equal(initial, 7);
    await waitFor(async () => (await changes()).length === initial, 10_000, "ADDED from the list");
    await waitFor(() => server.openWatches() === 2, 10_000, "two watches");
    const [route] = await fixtureObjects("envoy-gateway/basic-auth.yaml", ["HTTPRoute"]);
    const meta = route!.metadata as { namespace: string; name: string };
    server.apply(
      { ...route!, spec: { ...(route!.spec as object), hostnames: ["changed.example.com"] } },
      "argocd",
    );
    server.delete(EG, "SecurityPolicy", "gateway-conformance-infra", "basic-auth-1");
    await waitFor(
      async () => (await changes()).length === initial + 2,
      10_000,
      "MODIFIED and DELETED",
    );
    // The HTTPRoute watch expires while a route is deleted unseen.
    server.stallWatches();
    server.delete(GW, "HTTPRoute", "gateway-conformance-infra", "http-with-basic-auth-2");
    server.compact();
    server.expireWatches(GW, "HTTPRoute");
    await waitFor(async () => (await changes()).length === initial + 4, 10_000, "GAP and DELETED");
    const all = await changes();
    const brief = all
      .slice(initial)
      .map((c) => `${c.type} ${c.ref.kind || c.notice?.code} ${c.ref.name}`);
    assert.deepStrictEqual(brief, [
      `MODIFIED HTTPRoute ${meta.name}`,
      "DELETED SecurityPolicy basic-auth-1",
      `GAP CRW_WATCH_EXPIRED HTTPRoute.${GW}`,
      "DELETED HTTPRoute http-with-basic-auth-2",
    ]);
    assert.equal(all[initial]?.actor?.name, "argocd");
    assert.ok(all.slice(0, initial).every((c) => c.type === "ADDED"));
    const cursors = await crwatch.store.getSourceCursors("cluster");
    assert.deepStrictEqual(Object.keys(cursors).sort(), [
      `HTTPRoute.${GW}`,
      `SecurityPolicy.${EG}`,
    ]);
    await waitFor(
      () => output.join("").includes("CRW_WATCH_EXPIRED"),
      10_000,
      "the GAP delivered to the sink",
    );
    assert.equal((await crwatch.store.verify()).ok, true);
  });
});
