import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { KubeDecoder } from "../../src/sources/kubernetes/decoder.js";
import { fixtureCrd, fixtureObjects } from "../fake-kube/fixtures.js";
import type { FakeKubeServer } from "../fake-kube/server.js";
import { waitFor } from "../helpers.js";
import { Harness, type HarnessOptions, summary } from "./harness.js";

const GW = "gateway.networking.k8s.io";
const EG = "gateway.envoyproxy.io";
const KONG = "configuration.konghq.com";
const ROUTES = `HTTPRoute.${GW}`;
const POLICIES = `SecurityPolicy.${EG}`;

function route(
  name: string,
  weight: number,
  namespace = "shop",
  labels: Record<string, string> = {},
) {
  return {
    apiVersion: `${GW}/v1`,
    kind: "HTTPRoute",
    metadata: { name, namespace, labels },
    spec: { rules: [{ backendRefs: [{ name: "v1", port: 8080, weight }] }] },
  };
}

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.tearDown();
});

async function started(
  options: Partial<HarnessOptions> & { crds: HarnessOptions["crds"] },
  seed?: (server: FakeKubeServer) => void | Promise<void>,
): Promise<Harness> {
  const h = new Harness({
    config: { resources: [`${GW}/HTTPRoute`], stallTimeout: "10m", ...options.config },
    crds: options.crds,
    ...(options.server ? { server: options.server } : {}),
    ...(options.clientToken ? { clientToken: options.clientToken } : {}),
    ...(options.decoder ? { decoder: options.decoder } : {}),
  });
  harnesses.push(h);
  await h.setUp(seed);
  const runtime = h.startSource();
  await runtime.ready();
  return h;
}

describe("kubernetes source against the fake API server", () => {
  it("should list in pages as one scoped snapshot, then watch from the list's resourceVersion with bookmarks", async () => {
    const h = await started(
      { crds: ["HTTPRoute"], config: { resources: [`${GW}/HTTPRoute`], pageSize: 2 } },
      (s) => {
        for (let i = 1; i <= 5; i++) s.apply(route(`r${i}`, i * 10));
      },
    );
    const lists = h.server.collectionRequests("httproutes", "list");
    assert.equal(lists.length, 3, "5 objects in pages of 2");
    assert.deepStrictEqual(
      lists.map((r) => r.query.limit),
      ["2", "2", "2"],
    );
    assert.ok(lists[1]?.query.continue && lists[2]?.query.continue);
    const events = h.events();
    const begin = events.find((e) => e.type === "snapshot-begin");
    assert.deepStrictEqual(begin, {
      type: "snapshot-begin",
      id: ROUTES,
      scope: { group: GW, kind: "HTTPRoute" },
    });
    assert.equal(events.filter((e) => e.type === "snapshot-page").length, 3);
    const end = h.observations.find((o) => o.events.some((e) => e.type === "snapshot-end"));
    const listRv = h.server.resourceVersion;
    assert.deepStrictEqual(end?.cursors, { [ROUTES]: listRv });
    await waitFor(() => h.server.openWatches(GW, "HTTPRoute") === 1, 5000, "a watch");
    const watch = h.server.collectionRequests("httproutes", "watch")[0];
    assert.equal(watch?.query.resourceVersion, listRv);
    assert.equal(watch?.query.allowWatchBookmarks, "true");
    const changes = await h.waitForChanges((c) => c.length === 5, "5 ADDED");
    assert.deepStrictEqual(
      summary(changes),
      [1, 2, 3, 4, 5].map((i) => `ADDED HTTPRoute shop/r${i}`),
    );
    assert.deepStrictEqual(changes[0]?.actor, {
      name: "kubectl-client-side-apply",
      via: "kubectl-client-side-apply",
    });
  });

  it("should record create, update and delete of Gateway API, Envoy Gateway and Kong resources with their field managers, and nothing for status-only updates", async () => {
    const h = await started({
      crds: ["HTTPRoute", "SecurityPolicy", "KongPlugin"],
      config: { resources: [`${GW}/HTTPRoute`, `${EG}/SecurityPolicy`, `${KONG}/KongPlugin`] },
    });
    await waitFor(() => h.server.openWatches() === 3, 5000, "three watches");
    const objects = [
      ...(await fixtureObjects("gateway-api/traffic-split-2.yaml", ["HTTPRoute"])),
      ...(await fixtureObjects("envoy-gateway/basic-auth.yaml", ["SecurityPolicy"])),
      ...(await fixtureObjects("kong/kong-consumer-key-auth.yaml", ["KongPlugin"])),
    ];
    for (const o of objects) h.server.apply(o, "helm");
    const added = await h.waitForChanges(
      (c) => c.length === objects.length,
      `${objects.length} ADDED`,
    );
    assert.deepStrictEqual(
      summary(added).sort(),
      [
        "ADDED HTTPRoute default/foo-route",
        "ADDED KongPlugin default/key-auth-1",
        "ADDED SecurityPolicy gateway-conformance-infra/basic-auth-1",
        "ADDED SecurityPolicy gateway-conformance-infra/basic-auth-2",
        "ADDED SecurityPolicy gateway-conformance-infra/basic-auth-3",
      ].sort(),
    );
    assert.ok(added.every((c) => c.actor?.name === "helm" && c.cause?.kind === "managed-fields"));
    const seq = added[added.length - 1]!.seq;
    // A controller writes status only: a new resourceVersion, no change for crwatch.
    h.server.updateStatus(GW, "HTTPRoute", "default", "foo-route", {
      parents: [{ controllerName: "x" }],
    });
    const split = structuredClone(objects[0]!) as {
      spec: { rules: { backendRefs: { weight: number }[] }[] };
    };
    split.spec.rules[0]!.backendRefs[0]!.weight = 0;
    h.server.apply(split as unknown as Record<string, unknown>, "kubectl-edit");
    h.server.delete(KONG, "KongPlugin", "default", "key-auth-1");
    const later = await h.waitForChanges((c) => c.length === 2, "MODIFIED and DELETED", seq);
    assert.deepStrictEqual(summary(later), [
      "MODIFIED HTTPRoute default/foo-route",
      "DELETED KongPlugin default/key-auth-1",
    ]);
    assert.equal(later[0]?.actor?.name, "kubectl-edit");
    assert.deepStrictEqual(later[0]?.patch, [
      { op: "replace", path: "/spec/rules/0/backendRefs/0/weight", value: 0 },
    ]);
  });

  it("should move a kind's cursor on a bookmark, and on every event", async () => {
    const h = await started({ crds: ["HTTPRoute"] });
    await waitFor(() => h.server.openWatches() === 1, 5000, "a watch");
    h.server.apply(route("a", 1));
    await h.waitForChanges((c) => c.length === 1, "ADDED");
    assert.equal((await h.cursors())[ROUTES], h.server.resourceVersion);
    // Writes to another kind move the global resourceVersion; the bookmark carries it.
    h.server.installCrd(await fixtureCrd("Gateway"));
    h.server.apply({
      apiVersion: `${GW}/v1`,
      kind: "Gateway",
      metadata: { name: "g", namespace: "shop" },
      spec: {},
    });
    h.server.bookmark();
    await waitFor(
      async () => (await h.cursors())[ROUTES] === h.server.resourceVersion,
      5000,
      "cursor at the bookmark",
    );
  });

  for (const expiredAs of ["event", "status"] as const) {
    it(`should relist after 410 (${expiredAs === "event" ? "an in-stream ERROR event" : "HTTP status"}) with one GAP and exactly the deletions made in between, for that kind only`, async () => {
      const h = await started(
        {
          crds: ["HTTPRoute", "SecurityPolicy"],
          config: { resources: [`${GW}/HTTPRoute`, `${EG}/SecurityPolicy`] },
          server: { expiredAs },
        },
        async (s) => {
          for (const name of ["a", "b", "c"]) s.apply(route(name, 50));
          for (const o of await fixtureObjects("envoy-gateway/basic-auth.yaml", ["SecurityPolicy"]))
            s.apply(o);
        },
      );
      await waitFor(() => h.server.openWatches() === 2, 5000, "two watches");
      const initial = await h.waitForChanges((c) => c.length === 6, "6 ADDED");
      const seq = initial[initial.length - 1]!.seq;
      const rvBefore = (await h.cursors())[ROUTES];
      const policyCursor = (await h.cursors())[POLICIES];
      // The source is cut off, the cluster moves on and compacts its history.
      h.server.stallWatches();
      h.server.delete(GW, "HTTPRoute", "shop", "a");
      h.server.apply(route("b", 0));
      h.server.apply(route("d", 70));
      h.server.compact();
      if (expiredAs === "event") h.server.expireWatches(GW, "HTTPRoute");
      else h.server.dropWatches(GW, "HTTPRoute");
      // A refused watch (HTTP 410) that delivered nothing is retried after a backoff: move time.
      await h.advanceUntil(
        async () => (await h.changes(seq)).length === 4,
        1000,
        "GAP and 3 changes",
      );
      const after = await h.changes(seq);
      assert.deepStrictEqual(
        summary(after),
        [
          "GAP CRW_WATCH_EXPIRED",
          "MODIFIED HTTPRoute shop/b",
          "ADDED HTTPRoute shop/d",
          "DELETED HTTPRoute shop/a",
        ].sort((x, y) => (x.startsWith("GAP") ? -1 : y.startsWith("GAP") ? 1 : 0)),
      );
      const gap = after[0]!;
      assert.equal(gap.ref.name, ROUTES, "the GAP names the kind");
      assert.match(
        gap.notice?.message ?? "",
        new RegExp(
          `resourceVersion ${rvBefore} .*relisted at resourceVersion ${h.server.resourceVersion}`,
        ),
      );
      assert.ok(
        after.every((c) => c.ref.kind !== "SecurityPolicy"),
        "nothing for the other kind",
      );
      const policySnapshots = h
        .events()
        .filter((e) => e.type === "snapshot-begin" && e.scope?.kind === "SecurityPolicy");
      assert.equal(policySnapshots.length, 1, "the other kind was not relisted");
      assert.equal((await h.cursors())[POLICIES], policyCursor);
    });
  }

  it("should resume a dropped watch from the last resourceVersion without relisting, losing nothing", async () => {
    const h = await started({ crds: ["HTTPRoute"] });
    await waitFor(() => h.server.openWatches() === 1, 5000, "a watch");
    h.server.apply(route("a", 1));
    await h.waitForChanges((c) => c.length === 1, "ADDED a");
    const rv = h.server.resourceVersion;
    h.server.dropWatches();
    h.server.apply(route("b", 2)); // while the connection is down
    await h.waitForChanges((c) => c.length === 2, "ADDED b, replayed by the resumed watch");
    const watches = h.server.collectionRequests("httproutes", "watch");
    assert.equal(watches.length, 2);
    assert.equal(watches[1]?.query.resourceVersion, rv);
    assert.equal(h.server.collectionRequests("httproutes", "list").length, 1, "no relist");
  });

  it("should restart a stalled watch (no event nor bookmark within stallTimeout, on the injected clock)", async () => {
    const h = await started({
      crds: ["HTTPRoute"],
      config: { resources: [`${GW}/HTTPRoute`], stallTimeout: "1m" },
    });
    await waitFor(() => h.server.openWatches() === 1, 5000, "a watch");
    h.server.stallWatches();
    h.server.apply(route("a", 1)); // never arrives on the stalled connection
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await h.changes()).length, 0);
    await h.clock.advance(59_000);
    assert.equal(h.server.collectionRequests("httproutes", "watch").length, 1, "not yet stalled");
    await h.clock.advance(1_000);
    await h.waitForChanges((c) => c.length === 1, "ADDED a after the restart");
    assert.equal(h.server.collectionRequests("httproutes", "watch").length, 2);
    assert.equal(h.server.collectionRequests("httproutes", "list").length, 1, "no relist");
  });

  it("should report a kind that is not served (CRW_UNKNOWN_KIND) without stopping the others, and watch it once its CRD is installed", async () => {
    const h = await started(
      {
        crds: ["HTTPRoute"],
        config: { resources: [`${GW}/HTTPRoute`, `${KONG}/KongPlugin`], discoveryInterval: "30s" },
      },
      (s) => {
        s.apply(route("a", 1));
      },
    );
    const first = await h.waitForChanges((c) => c.length === 2, "ADDED and ERROR");
    assert.deepStrictEqual(summary(first).sort(), [
      "ADDED HTTPRoute shop/a",
      "ERROR CRW_UNKNOWN_KIND",
    ]);
    assert.equal(h.lastHealth()?.status, "degraded");
    assert.match(
      h.lastHealth()?.message ?? "",
      /KongPlugin\.configuration\.konghq\.com is not served/,
    );
    h.server.installCrd(await fixtureCrd("KongPlugin"));
    for (const o of await fixtureObjects("kong/kong-consumer-key-auth.yaml", ["KongPlugin"]))
      h.server.apply(o);
    await h.advanceUntil(async () => (await h.changes()).length === 3, 5000, "the plugin");
    assert.deepStrictEqual(summary(await h.changes(first[1]!.seq)), [
      "ADDED KongPlugin default/key-auth-1",
    ]);
    assert.deepStrictEqual(await h.store.openProblems("cluster"), []);
    await waitFor(() => h.lastHealth()?.status === "ok", 5000, "healthy");
  });

  it("should report a CRD that is removed while watched, record its objects' deletions, and keep other kinds going", async () => {
    const h = await started(
      {
        crds: ["HTTPRoute", "KongPlugin"],
        config: { resources: [`${GW}/HTTPRoute`, `${KONG}/KongPlugin`] },
      },
      async (s) => {
        for (const o of await fixtureObjects("kong/kong-consumer-key-auth.yaml", ["KongPlugin"]))
          s.apply(o);
      },
    );
    const first = await h.waitForChanges((c) => c.length === 1, "ADDED plugin");
    await waitFor(() => h.server.openWatches() === 2, 5000, "two watches");
    h.server.removeCrd(KONG, "KongPlugin");
    const after = await h.waitForChanges((c) => c.length === 2, "DELETED and ERROR", first[0]!.seq);
    assert.deepStrictEqual(summary(after), [
      "DELETED KongPlugin default/key-auth-1",
      "ERROR CRW_UNKNOWN_KIND",
    ]);
    assert.equal(h.lastHealth()?.status, "degraded");
    h.server.apply(route("still-watched", 1));
    await h.waitForChanges(
      (c) => c.some((x) => x.ref.name === "still-watched"),
      "routes still watched",
    );
  });

  it("should show 403 and 401 in health with a precise message, keep retrying, and recover", async () => {
    const h = await started(
      {
        crds: ["HTTPRoute", "SecurityPolicy"],
        config: { resources: [`${GW}/HTTPRoute`, `${EG}/SecurityPolicy`] },
      },
      (s) => s.forbid(EG, "SecurityPolicy"),
    );
    await waitFor(
      () => /forbidden \(403\)/.test(h.lastHealth()?.message ?? ""),
      5000,
      "403 in health",
    );
    assert.equal(h.lastHealth()?.status, "degraded");
    assert.match(
      h.lastHealth()?.message ?? "",
      /SecurityPolicy\.gateway\.envoyproxy\.io: forbidden \(403\): the account needs get, list and watch/,
    );
    h.server.apply(route("a", 1));
    await h.waitForChanges((c) => c.length === 1, "routes flow meanwhile");
    h.server.allow(EG, "SecurityPolicy");
    await h.advanceUntil(() => h.lastHealth()?.status === "ok", 1000, "recovered");

    const bad = await started({ crds: ["HTTPRoute"], clientToken: "wrong" });
    await waitFor(
      () => /unauthorized \(401\)/.test(bad.lastHealth()?.message ?? ""),
      5000,
      "401 in health",
    );
    assert.equal(bad.lastHealth()?.status, "degraded");
  });

  it("should not drop a garbage line silently: the watch fails, says so, and resumes from the last resourceVersion", async () => {
    const h = await started({ crds: ["HTTPRoute"] });
    await waitFor(() => h.server.openWatches() === 1, 5000, "a watch");
    h.server.sendGarbage(GW, "HTTPRoute", "<html>proxy error</html>");
    await waitFor(
      () => /not JSON: <html>proxy error<\/html>/.test(h.lastHealth()?.message ?? ""),
      5000,
      "the line in health",
    );
    h.server.apply(route("a", 1));
    await h.advanceUntil(
      async () => (await h.changes()).length === 1,
      1000,
      "ADDED after the retry",
    );
    assert.equal(h.server.collectionRequests("httproutes", "list").length, 1, "no relist");
  });

  it("should resume from the stored cursors after a restart, recording only what changed while it was down", async () => {
    const h = await started({ crds: ["HTTPRoute"] }, (s) => {
      s.apply(route("a", 1));
      s.apply(route("b", 1));
    });
    const first = await h.waitForChanges((c) => c.length === 2, "2 ADDED");
    await h.stopSource();
    h.server.apply(route("b", 2));
    h.server.apply(route("b", 2)); // a rewrite that changes nothing
    h.startSource();
    const after = await h.waitForChanges((c) => c.length === 1, "MODIFIED b", first[1]!.seq);
    assert.deepStrictEqual(summary(after), ["MODIFIED HTTPRoute shop/b"]);
    assert.equal(
      h.server.collectionRequests("httproutes", "list").length,
      1,
      "resumed by watch, not relisted",
    );
    await h.stopSource();
    // Restarting after the history was compacted: a relist compared with the stored heads,
    // one GAP, and only the real change.
    h.server.apply(route("c", 1));
    h.server.compact();
    h.startSource();
    await h.waitForChanges((c) => c.length === 2, "GAP and ADDED c", after[0]!.seq);
    await h.stopSource();
    assert.deepStrictEqual(summary(await h.changes(after[0]!.seq)), [
      "GAP CRW_WATCH_EXPIRED",
      "ADDED HTTPRoute shop/c",
    ]);
    assert.equal(h.server.collectionRequests("httproutes", "list").length, 2, "one relist");
  });

  it("should watch only the configured namespaces and labels, one cursor per namespace", async () => {
    const h = await started(
      {
        crds: ["HTTPRoute"],
        config: {
          resources: [`${GW}/HTTPRoute`],
          namespaces: ["edge"],
          labelSelector: "team=platform",
        },
      },
      (s) => {
        s.apply(route("in", 1, "edge", { team: "platform" }));
        s.apply(route("other-team", 1, "edge", { team: "web" }));
        s.apply(route("other-ns", 1, "shop", { team: "platform" }));
      },
    );
    const changes = await h.waitForChanges((c) => c.length === 1, "one ADDED");
    assert.deepStrictEqual(summary(changes), ["ADDED HTTPRoute edge/in"]);
    const list = h.server.collectionRequests("httproutes", "list")[0];
    assert.equal(list?.path, `/apis/${GW}/v1/namespaces/edge/httproutes`);
    assert.equal(list?.query.labelSelector, "team=platform");
    assert.deepStrictEqual(Object.keys(await h.cursors()), [`${ROUTES}/edge`]);
    // A label change that takes an object out of the selector is a deletion within the scope.
    h.server.apply(route("in", 1, "edge", { team: "web" }));
    await h.waitForChanges((c) => c.length === 2, "DELETED in");
    assert.deepStrictEqual(summary(await h.changes(changes[0]!.seq)), [
      "DELETED HTTPRoute edge/in",
    ]);
  });

  it("should watch core kinds (v1/Secret) whose list items carry no kind, masking their data", async () => {
    const h = await started({ crds: [], config: { resources: ["v1/Secret"] } }, (s) => {
      s.apply({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "basic-auth", namespace: "edge" },
        data: { ".htpasswd": "dXNlcjpwYXNz" },
      });
    });
    const [added] = await h.waitForChanges((c) => c.length === 1, "ADDED Secret");
    assert.deepStrictEqual(added?.ref, {
      source: "cluster",
      group: "",
      kind: "Secret",
      namespace: "edge",
      name: "basic-auth",
    });
    assert.equal(h.server.collectionRequests("secrets", "list")[0]?.path, "/api/v1/secrets");
    assert.ok(!JSON.stringify(added).includes("dXNlcjpwYXNz"), "the secret value is masked");
    assert.deepStrictEqual(Object.keys(await h.cursors()), ["Secret"]);
  });

  it("should back off and retry a 5xx forever, showing it in health, then list normally", async () => {
    const h = await started({ crds: ["HTTPRoute"] }, (s) => {
      s.failNext(GW, "HTTPRoute", 503, 3);
      s.apply(route("a", 1));
    });
    assert.match(
      h.lastHealth()?.message ?? "",
      /HTTPRoute\.gateway\.networking\.k8s\.io: GET .*httproutes: 503 .*injected failure 503; retrying in \d+ ms \(attempt 1\)/,
    );
    assert.equal(h.lastHealth()?.status, "degraded");
    await h.advanceUntil(
      async () => (await h.changes()).length === 1,
      1000,
      "ADDED after three failures",
    );
    assert.equal(h.server.collectionRequests("httproutes", "list").length, 4);
    await waitFor(() => h.lastHealth()?.status === "ok", 5000, "healthy again");
  });

  it("should keep a burst of watch events in order, each observation carrying its last resourceVersion as the cursor", async () => {
    const h = await started({ crds: ["HTTPRoute"] });
    await waitFor(() => h.server.openWatches() === 1, 5000, "a watch");
    for (let i = 0; i < 300; i++) h.server.apply(route(`r${i % 30}`, i));
    const changes = await h.waitForChanges((c) => c.length === 300, "300 changes");
    assert.deepStrictEqual(
      changes.map((c) => c.ref.name),
      Array.from({ length: 300 }, (_, i) => `r${i % 30}`),
    );
    assert.equal((await h.cursors())[ROUTES], h.server.resourceVersion);
    // However the events were batched, each observation's cursor is its last event's.
    for (const o of h.observations) {
      const upserts = o.events.filter((e) => e.type === "upsert");
      const last = upserts[upserts.length - 1];
      if (last?.type !== "upsert") continue;
      const rv = (last.item.object.metadata as { resourceVersion: string }).resourceVersion;
      assert.equal(o.cursors?.[ROUTES], rv);
    }
  });

  it("should record the same changes whether pages and watch lines are decoded in the worker thread or inline", async () => {
    const record = async (decoder: KubeDecoder) => {
      const h = await started(
        {
          crds: ["HTTPRoute"],
          config: { resources: [`${GW}/HTTPRoute`, "v1/Secret"], pageSize: 7 },
          decoder,
        },
        (s) => {
          for (let i = 0; i < 30; i++) s.apply(route(`r${String(i).padStart(2, "0")}`, i), "helm");
          s.apply({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "k", namespace: "edge" },
            data: { a: "dg==" },
          });
        },
      );
      await h.waitForChanges((c) => c.length === 31, "31 ADDED");
      await waitFor(() => h.server.openWatches() === 2, 5000, "two watches");
      h.server.corked(() => {
        for (let i = 0; i < 30; i += 3)
          h.server.apply(route(`r${String(i).padStart(2, "0")}`, 100 + i), "kubectl");
        h.server.delete(GW, "HTTPRoute", "shop", "r01");
      });
      const changes = await h.waitForChanges((c) => c.length === 42, "10 MODIFIED, 1 DELETED");
      await h.tearDown();
      harnesses.splice(harnesses.indexOf(h), 1);
      return changes.map(({ type, ref, actor, cause, patch, summary: s, location }) => ({
        type,
        ref,
        actor,
        cause,
        patch,
        summary: s,
        location,
      }));
    };
    const worker = new KubeDecoder({ inlineBelowBytes: 0 });
    try {
      const inWorker = await record(worker);
      const inline = await record(new KubeDecoder({ inlineBelowBytes: Number.POSITIVE_INFINITY }));
      assert.deepStrictEqual(inWorker, inline);
      assert.deepStrictEqual(summary(inWorker as never).slice(31), [
        ...[0, 3, 6, 9, 12, 15, 18, 21, 24, 27].map(
          (i) => `MODIFIED HTTPRoute shop/r${String(i).padStart(2, "0")}`,
        ),
        "DELETED HTTPRoute shop/r01",
      ]);
    } finally {
      await worker.close();
    }
  });
});
