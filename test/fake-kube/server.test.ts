import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { after, afterEach, before, describe, it } from "node:test";
import { promisify } from "node:util";
import {
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  makeInformer,
} from "@kubernetes/client-node";
import { tempDir, waitFor } from "../helpers.js";
import { fixtureObjects, installFixtureCrds, writeKubeconfig } from "./fixtures.js";
import { FakeKubeServer } from "./server.js";

const run = promisify(execFile);
const GW = "gateway.networking.k8s.io";
const ROUTES = `httproutes.${GW}`;
const kubectlMissing = spawnSync("kubectl", ["version", "--client"]).error !== undefined;
const SKIP_KUBECTL = kubectlMissing
  ? "kubectl is not installed here (apt-get install kubernetes-client)"
  : false;

interface WatchLine {
  type: string;
  object: { metadata: { name: string; resourceVersion: string } };
}

/**
 * The fake API server is only worth its tests if real clients accept it: kubectl (client-go)
 * and @kubernetes/client-node's own ListWatch informer, against the CRDs and examples in
 * ../shared/fixtures.
 */
describe("fake API server, checked with real clients", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let server: FakeKubeServer;
  let kubeconfig: string;
  let names: string[];

  before(async () => {
    dir = await tempDir("crwatch-fake-kube-");
  });
  after(async () => dir.cleanup());
  afterEach(async () => server?.close());

  /** kubectl sends no bearer token over plain HTTP, so its server asks for none. */
  async function serve(token?: string): Promise<void> {
    server = new FakeKubeServer(token ? { token } : {});
    const url = await server.start();
    await installFixtureCrds(server, ["HTTPRoute", "SecurityPolicy"]);
    for (const file of ["gateway-api/traffic-split-2.yaml", "envoy-gateway/basic-auth.yaml"])
      for (const o of await fixtureObjects(file, ["HTTPRoute", "SecurityPolicy"])) server.apply(o);
    kubeconfig = await writeKubeconfig(dir.path, url, token);
    names = [
      "gateway-conformance-infra/http-no-basic-auth",
      "gateway-conformance-infra/http-with-basic-auth-1",
      "gateway-conformance-infra/http-with-basic-auth-2",
      "gateway-conformance-infra/http-with-basic-auth-3",
      "default/foo-route",
    ].sort();
  }

  const kubectl = (args: string[]) =>
    run("kubectl", args, { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 20_000 });

  it("should answer `kubectl get -A -o json` through discovery and paginated lists", {
    skip: SKIP_KUBECTL,
  }, async () => {
    await serve();
    const { stdout } = await kubectl(["get", ROUTES, "-A", "-o", "json", "--chunk-size=2"]);
    const list = JSON.parse(stdout) as {
      items: { metadata: { namespace: string; name: string } }[];
    };
    assert.deepStrictEqual(
      list.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`).sort(),
      names,
    );
    const lists = server.collectionRequests("httproutes", "list");
    assert.equal(lists.length, 3, "5 routes in chunks of 2");
    assert.ok(lists.slice(1).every((r) => r.query.continue));
    assert.ok(
      server.requests.some((r) => r.path === `/apis/${GW}/v1` && r.status === 200),
      "discovery",
    );
  });

  it("should stream `kubectl get --watch` events: the list, then MODIFIED and DELETED", {
    skip: SKIP_KUBECTL,
  }, async () => {
    await serve();
    const child = spawn(
      "kubectl",
      ["get", ROUTES, "-A", "-o", "json", "--watch", "--output-watch-events"],
      { env: { ...process.env, KUBECONFIG: kubeconfig } },
    );
    const lines: WatchLine[] = [];
    let rest = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      rest += chunk;
      for (let i = rest.indexOf("\n"); i !== -1; i = rest.indexOf("\n")) {
        const line = rest.slice(0, i).trim();
        rest = rest.slice(i + 1);
        if (line) lines.push(JSON.parse(line) as WatchLine);
      }
    });
    try {
      await waitFor(
        () => lines.length === 5 && server.openWatches(GW, "HTTPRoute") === 1,
        15_000,
        "the list and a watch",
      );
      const watch = server.collectionRequests("httproutes", "watch")[0];
      // Nothing was written since the list: its resourceVersion is the server's current one.
      assert.equal(
        watch?.query.resourceVersion,
        server.resourceVersion,
        "watch from the list's resourceVersion",
      );
      const [route] = await fixtureObjects("gateway-api/traffic-split-2.yaml", ["HTTPRoute"]);
      server.apply({
        ...route!,
        metadata: { ...(route!.metadata as object), labels: { changed: "yes" } },
      });
      server.delete(GW, "HTTPRoute", "default", "foo-route");
      await waitFor(() => lines.length === 7, 15_000, "MODIFIED and DELETED");
      assert.deepStrictEqual(
        lines.slice(5).map((l) => `${l.type} ${l.object.metadata.name}`),
        ["MODIFIED foo-route", "DELETED foo-route"],
      );
      assert.equal(lines[6]?.object.metadata.resourceVersion, server.resourceVersion);
    } finally {
      child.kill();
    }
  });

  it("should feed @kubernetes/client-node's informer: add, update, delete, and a relist after 410", async () => {
    await serve("informer-token");
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const api = kc.makeApiClient(CustomObjectsApi);
    const informer = makeInformer<KubernetesObject>(kc, `/apis/${GW}/v1/httproutes`, () =>
      api.listClusterCustomObject({ group: GW, version: "v1", plural: "httproutes" }),
    );
    const seen: string[] = [];
    informer.on("add", (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on("update", (o) => seen.push(`update ${o.metadata?.name}`));
    informer.on("delete", (o) => seen.push(`delete ${o.metadata?.name}`));
    informer.on("error", (err) => seen.push(`error ${String(err)}`));
    await informer.start();
    try {
      await waitFor(
        () => server.openWatches(GW, "HTTPRoute") === 1,
        10_000,
        "the informer's watch",
      );
      assert.equal(seen.filter((s) => s.startsWith("add")).length, 5);
      assert.ok(
        server.requests.every((r) => r.status !== 401),
        "the token was sent",
      );
      server.updateStatus(GW, "HTTPRoute", "default", "foo-route", { parents: [] });
      server.delete(GW, "HTTPRoute", "gateway-conformance-infra", "http-no-basic-auth");
      await waitFor(() => seen.length === 7, 10_000, "update and delete");
      assert.deepStrictEqual(seen.slice(5), ["update foo-route", "delete http-no-basic-auth"]);
      // Compaction: the informer's watch gets an ERROR 410 event and must list again.
      server.compact();
      server.expireWatches();
      await waitFor(
        () => server.collectionRequests("httproutes", "list").length === 2,
        10_000,
        "a relist",
      );
    } finally {
      await informer.stop();
    }
  });
});
