import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { waitFor } from "../helpers.js";
import { Harness, summary } from "./harness.js";

const GW = "gateway.networking.k8s.io";
const TOKEN = "audit-token-0123456789";

function route(name: string, weight: number) {
  return {
    apiVersion: `${GW}/v1`,
    kind: "HTTPRoute",
    metadata: { name, namespace: "shop" },
    spec: { rules: [{ backendRefs: [{ name: "v1", port: 8080, weight }] }] },
  };
}

/** An audit.k8s.io/v1 Event as the API server's webhook backend sends it. */
function auditEvent(name: string, user: string, time: string, resourceVersion?: string) {
  return {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: resourceVersion ? "RequestResponse" : "Metadata",
    auditID: `audit-${name}-${user}`,
    stage: "ResponseComplete",
    requestURI: `/apis/${GW}/v1/namespaces/shop/httproutes/${name}`,
    verb: "update",
    user: { username: user, groups: ["system:authenticated", "platform"] },
    sourceIPs: ["10.0.0.7"],
    userAgent: "kubectl/v1.32.4",
    objectRef: { resource: "httproutes", namespace: "shop", name, apiGroup: GW, apiVersion: "v1" },
    responseStatus: { metadata: {}, code: 200 },
    ...(resourceVersion ? { responseObject: { metadata: { resourceVersion } } } : {}),
    requestReceivedTimestamp: time,
    stageTimestamp: time,
  };
}

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.tearDown();
});

async function started(): Promise<Harness> {
  const h = new Harness({
    crds: ["HTTPRoute"],
    config: {
      resources: [`${GW}/HTTPRoute`],
      stallTimeout: "10m",
      audit: { listen: "127.0.0.1:0", token: TOKEN, maxBodyBytes: 4096, window: "10s" },
    },
  });
  harnesses.push(h);
  await h.setUp();
  await h.startSource().ready();
  await waitFor(() => h.auditAddress && h.server.openWatches() === 1, 5000, "receiver and watch");
  return h;
}

async function post(h: Harness, body: unknown, token: string | null = TOKEN): Promise<number> {
  const res = await fetch(`http://${h.auditAddress}/`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

const eventList = (...items: unknown[]) => ({
  kind: "EventList",
  apiVersion: "audit.k8s.io/v1",
  items,
});

describe("kubernetes audit receiver", () => {
  it("should attach the audit user to a change whose audit event arrived first (matched by resourceVersion)", async () => {
    const h = await started();
    const next = String(Number(h.server.resourceVersion) + 1);
    const now = new Date(h.clock.now()).toISOString();
    assert.equal(await post(h, eventList(auditEvent("a", "alice", now, next))), 200);
    h.server.apply(route("a", 1));
    const [change] = await h.waitForChanges((c) => c.length === 1, "ADDED a");
    assert.deepStrictEqual(change?.actor, { name: "alice", via: "kubectl/v1.32.4" });
    assert.equal(change?.cause?.kind, "audit");
    assert.equal(change?.cause?.id, "audit-a-alice");
    assert.deepStrictEqual(change?.cause?.details, {
      verb: "update",
      user: "alice",
      groups: "system:authenticated,platform",
      userAgent: "kubectl/v1.32.4",
      sourceIPs: "10.0.0.7",
    });
  });

  it("should hold a change until its audit event arrives within the window (matched by time), then record it with that user", async () => {
    const h = await started();
    h.server.apply(route("b", 1));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await h.changes()).length, 0, "held for the audit event");
    const now = new Date(h.clock.now()).toISOString();
    assert.equal(await post(h, eventList(auditEvent("b", "bob", now))), 200);
    const [change] = await h.waitForChanges((c) => c.length === 1, "ADDED b");
    assert.equal(change?.actor?.name, "bob");
  });

  it("should fall back to the field manager when no audit event comes within the window", async () => {
    const h = await started();
    h.server.apply(route("c", 1), "helm");
    await h.clock.advance(9_000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await h.changes()).length, 0);
    await h.clock.advance(1_000);
    const [change] = await h.waitForChanges((c) => c.length === 1, "ADDED c");
    assert.deepStrictEqual(change?.actor, { name: "helm", via: "helm" });
  });

  it("should refuse unauthenticated (401), oversized (413) and malformed (400) posts, and a refused post changes nothing", async () => {
    const h = await started();
    const now = new Date(h.clock.now()).toISOString();
    const mallory = eventList(auditEvent("d", "mallory", now));
    assert.equal(await post(h, mallory, null), 401);
    assert.equal(await post(h, mallory, "wrong-token-0123456789"), 401);
    const big = eventList(...Array.from({ length: 20 }, () => auditEvent("d", "mallory", now)));
    assert.ok(JSON.stringify(big).length > 4096);
    assert.equal(await post(h, big), 413);
    assert.equal(await post(h, "{not json"), 400);
    assert.equal(await post(h, { kind: "Event", apiVersion: "audit.k8s.io/v1" }), 400);
    h.server.apply(route("d", 1), "helm");
    await h.advanceUntil(async () => (await h.changes()).length === 1, 1000, "ADDED d");
    const changes = await h.changes();
    assert.deepStrictEqual(summary(changes), ["ADDED HTTPRoute shop/d"]);
    assert.equal(changes[0]?.actor?.name, "helm", "no refused audit user attached");
  });
});
