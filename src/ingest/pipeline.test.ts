import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import pino from "pino";
import { tempDir } from "../../test/helpers.js";
import { applyPatch } from "../core/diff.js";
import { createMasker } from "../core/mask.js";
import type { JsonObject } from "../model/json.js";
import {
  type Observation,
  type ObservationEvent,
  type ObservedObject,
  observedText,
} from "../model/observation.js";
import type { Ref } from "../model/ref.js";
import { openSqliteStore } from "../store/sqlite/store.js";
import type { Store } from "../store/store.js";
import { Ingest } from "./pipeline.js";

const SOURCE = "test";

/** Server-set noise that canonicalization must drop: a new value on every read. */
let resourceVersion = 0;

function route(name: string, weight: number, extra: JsonObject = {}): ObservedObject {
  const object: JsonObject = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: "shop", resourceVersion: String(++resourceVersion), ...extra },
    spec: {
      rules: [
        {
          backendRefs: [
            { name: "v1", weight },
            { name: "v2", weight: 100 - weight },
          ],
        },
      ],
    },
  };
  return {
    ref: refOf("HTTPRoute", name),
    object,
    location: { path: `/cfg/${name}.yaml`, line: 1 },
  };
}

function refOf(kind: string, name: string, group = "gateway.networking.k8s.io"): Ref {
  return { source: SOURCE, group, kind, namespace: "shop", name };
}

function obs(...events: ObservationEvent[]): Observation {
  return { source: SOURCE, events, observedAt: new Date().toISOString() };
}

describe("Ingest", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: Store;
  let ingest: Ingest;

  beforeEach(async () => {
    dir = await tempDir();
    store = await openSqliteStore({ dir: dir.path });
    ingest = new Ingest({
      store,
      masker: createMasker({ key: Buffer.from("k".repeat(32)) }),
      log: pino({ level: "silent" }),
    });
  });
  afterEach(async () => {
    await store.close();
    await dir.cleanup();
  });

  const since = async (seq: number) => store.readChanges({ afterSeq: seq });

  it("should record ADDED, skip a no-op rewrite, then record MODIFIED with an exact patch", async () => {
    const start = await store.lastSeq();
    await ingest.accept(obs({ type: "upsert", item: route("a", 90) }));
    // A new resourceVersion alone is server noise, not a change.
    await ingest.accept(obs({ type: "upsert", item: route("a", 90) }));
    await ingest.accept(obs({ type: "upsert", item: route("a", 0) }));
    const changes = await since(start);
    assert.deepStrictEqual(
      changes.map((c) => [c.type, c.revision, c.previousRevision]),
      [
        ["ADDED", 1, null],
        ["MODIFIED", 2, 1],
      ],
    );
    const modified = changes[1]!;
    assert.deepStrictEqual(modified.summary.sort(), [
      "spec.rules[0].backendRefs[0].weight: 90 → 0",
      "spec.rules[0].backendRefs[1].weight: 10 → 100",
    ]);
    const r1 = await store.getRevision(modified.ref, 1);
    const r2 = await store.getRevision(modified.ref, 2);
    assert.deepStrictEqual(applyPatch(r1!.object!, modified.patch), r2!.object);
    assert.deepStrictEqual(applyPatch({}, changes[0]!.patch), r1!.object);
    assert.equal((r2!.object!.metadata as JsonObject).resourceVersion, undefined);
  });

  it("should record DELETED once and number a re-creation as the next revision", async () => {
    await ingest.accept(obs({ type: "upsert", item: route("a", 90) }));
    await ingest.accept(obs({ type: "upsert", item: route("a", 0) }));
    const start = await store.lastSeq();
    await ingest.accept(obs({ type: "delete", ref: refOf("HTTPRoute", "a") }));
    await ingest.accept(obs({ type: "delete", ref: refOf("HTTPRoute", "a") }));
    await ingest.accept(obs({ type: "upsert", item: route("a", 50) }));
    const changes = await since(start);
    assert.deepStrictEqual(
      changes.map((c) => [c.type, c.revision]),
      [
        ["DELETED", 3],
        ["ADDED", 4],
      ],
    );
    assert.equal(changes[0]!.location?.path, "/cfg/a.yaml", "a delete keeps where the object was");
  });

  it("should infer deletions from a snapshot, except under kept locations", async () => {
    await ingest.accept(
      obs(
        { type: "upsert", item: route("a", 50) },
        { type: "upsert", item: route("b", 10) },
        { type: "upsert", item: route("c", 10) },
      ),
    );
    const start = await store.lastSeq();
    await ingest.accept(
      obs({ type: "snapshot", items: [route("a", 50)], keep: [{ locationPrefix: "/cfg/c.yaml" }] }),
    );
    const changes = await since(start);
    assert.deepStrictEqual(
      changes.map((c) => [c.type, c.ref.name]),
      [["DELETED", "b"]],
    );
  });

  it("should mask secrets so that no value reaches the store, while a rotation still shows", async () => {
    const secret = (value: string): ObservedObject => ({
      ref: refOf("Secret", "keys", ""),
      object: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "keys", namespace: "shop" },
        stringData: { key: value },
      },
    });
    const start = await store.lastSeq();
    await ingest.accept(obs({ type: "upsert", item: secret("hunter2-super-secret") }));
    await ingest.accept(obs({ type: "upsert", item: secret("rotated-value-42") }));
    const changes = await since(start);
    assert.deepStrictEqual(
      changes.map((c) => c.type),
      ["ADDED", "MODIFIED"],
    );
    assert.match(
      changes[1]!.summary[0]!,
      /^stringData\.key: "<masked:[0-9a-f]{16}>" → "<masked:[0-9a-f]{16}>"$/,
    );
    await store.close();
    store = await openSqliteStore({ dir: dir.path });
    ingest = new Ingest({
      store,
      masker: createMasker({ key: Buffer.from("k".repeat(32)) }),
      log: pino({ level: "silent" }),
    });
    for (const file of ["crwatch.db", "crwatch.db-wal"]) {
      const bytes = readFileSync(join(dir.path, file), { flag: "r" }).toString("latin1");
      assert.ok(
        !bytes.includes("hunter2") && !bytes.includes("rotated-value"),
        `${file} holds a secret`,
      );
    }
  });

  it("should record a problem once per fingerprint and again after recovery", async () => {
    const problem = (fingerprint: string): ObservationEvent => ({
      type: "problem",
      problem: {
        code: "CRW_YAML_SYNTAX",
        message: "bad indent",
        location: { path: "/cfg/bad.yaml", line: 3 },
        fingerprint,
      },
    });
    const start = await store.lastSeq();
    await ingest.accept(obs(problem("f1")));
    await ingest.accept(obs(problem("f1")));
    await ingest.accept(obs(problem("f2")));
    await ingest.accept(obs({ type: "recovered", location: "/cfg/bad.yaml" }));
    await ingest.accept(obs(problem("f2")));
    const changes = await since(start);
    assert.deepStrictEqual(
      changes.map((c) => [c.type, c.notice?.code, c.location?.line]),
      [
        ["ERROR", "CRW_YAML_SYNTAX", 3],
        ["ERROR", "CRW_YAML_SYNTAX", 3],
        ["ERROR", "CRW_YAML_SYNTAX", 3],
      ],
    );
  });

  it("should record a gap and save the cursor with the changes", async () => {
    const start = await store.lastSeq();
    await ingest.accept({
      ...obs({
        type: "gap",
        code: "CRW_WATCH_EXPIRED",
        reason: "watch expired",
        detail: "410 Gone",
      }),
      cursors: { default: "rv-77" },
    });
    const [gap] = await since(start);
    assert.equal(gap?.type, "GAP");
    assert.equal(gap?.notice?.code, "CRW_WATCH_EXPIRED");
    assert.equal(gap?.notice?.message, "watch expired: 410 Gone");
    assert.deepEqual(await store.getSourceCursors(SOURCE), { default: "rv-77" });
  });

  it("should keep order and lose nothing when many observations arrive at once", async () => {
    const start = await store.lastSeq();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        ingest.accept(obs({ type: "upsert", item: route("burst", i) })),
      ),
    );
    const changes = await since(start);
    assert.equal(changes.length, 50);
    assert.deepStrictEqual(
      changes.map((c) => c.revision),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.ok((await store.verify()).ok);
  });

  it("should fold observations handed on in one turn, a few promise steps apart, into one transaction", async () => {
    const start = await store.lastSeq();
    // As a source runtime hands them on: each accept a few promise steps after being emitted.
    const handOn = async (o: Observation) => {
      for (let step = 0; step < 3; step++) await Promise.resolve();
      return ingest.accept(o);
    };
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        handOn(obs({ type: "upsert", item: route(`r${i}`, i) })),
      ),
    );
    assert.equal(ingest.stats().commits, 1);
    const changes = await since(start);
    assert.deepStrictEqual(
      changes.map((c) => c.ref.name),
      Array.from({ length: 10 }, (_, i) => `r${i}`),
    );

    // One alone, once ingest is idle, still commits at once in a transaction of its own.
    await ingest.accept(obs({ type: "upsert", item: route("alone", 1) }));
    assert.equal(ingest.stats().commits, 2);
  });
});

/** A store of its own, and a factory for ingests over it (each one a "restart"). */
async function withFreshStore(
  test: (store: Store, make: () => Ingest) => Promise<void>,
): Promise<void> {
  const dir = await tempDir();
  const store = await openSqliteStore({ dir: dir.path });
  const make = () =>
    new Ingest({
      store,
      masker: createMasker({ key: Buffer.from("k") }),
      log: pino({ level: "silent" }),
    });
  try {
    await test(store, make);
  } finally {
    await store.close();
    await dir.cleanup();
  }
}

describe("Ingest with a snapshot after a restart", () => {
  it("should close an open problem that the next full view no longer reports", async () => {
    await withFreshStore(async (store, make) => {
      const problem: ObservationEvent = {
        type: "problem",
        problem: {
          code: "CRW_BINARY_FILE",
          message: "binary",
          location: { path: "/cfg/x.yaml" },
          fingerprint: "f",
        },
      };
      await make().accept(
        obs({ type: "snapshot", items: [], keep: [{ locationPrefix: "/cfg/x.yaml" }] }, problem),
      );
      assert.equal((await store.openProblems(SOURCE)).length, 1);
      // Fixed while down: the next start's snapshot does not report it.
      await make().accept(obs({ type: "snapshot", items: [route("x", 1)], keep: [] }));
      assert.equal((await store.openProblems(SOURCE)).length, 0);
      // Broken again in the same way: recorded again, since it was closed.
      await make().accept(
        obs(
          { type: "snapshot", items: [route("x", 1)], keep: [{ locationPrefix: "/cfg/x.yaml" }] },
          problem,
        ),
      );
      const errors = (await store.readChanges({})).filter((c) => c.type === "ERROR");
      assert.equal(errors.length, 2);
    });
  });

  it("should keep one open problem per document, so a restart records neither again", async () => {
    await withFreshStore(async (store, make) => {
      const notAnObject = (document: number): ObservationEvent => ({
        type: "problem",
        problem: {
          code: "CRW_NOT_AN_OBJECT",
          message: "not a mapping",
          location: { path: "/cfg/multi.yaml", document },
          fingerprint: `doc${document}`,
        },
      });
      const view = obs({ type: "snapshot", items: [], keep: [] }, notAnObject(1), notAnObject(3));
      await make().accept(view);
      await make().accept(view);
      assert.equal((await store.readChanges({ types: ["ERROR"] })).length, 2);
      await make().accept(obs({ type: "recovered", location: "/cfg/multi.yaml" }));
      assert.deepStrictEqual(await store.openProblems(SOURCE), []);
    });
  });
});

describe("Ingest: the observation protocol", () => {
  const gateway = (name: string): ObservedObject => ({
    ref: refOf("Gateway", name),
    object: {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name, namespace: "shop" },
      spec: { gatewayClassName: "eg" },
    },
  });
  const httpRoutes = { group: "gateway.networking.k8s.io", kind: "HTTPRoute" };
  const summary = async (store: Store, after = 0) =>
    (await store.readChanges({ afterSeq: after })).map((c) => [c.type, c.ref.kind, c.ref.name]);

  it("should delete nothing of another kind on a snapshot scoped to one kind", async () => {
    await withFreshStore(async (store, make) => {
      const ingest = make();
      await ingest.accept(
        obs(
          { type: "upsert", item: route("a", 10) },
          { type: "upsert", item: route("b", 10) },
          { type: "upsert", item: gateway("gw") },
        ),
      );
      const start = await store.lastSeq();
      // A relist of HTTPRoutes after a 410: only `a` is left.
      await ingest.accept(obs({ type: "snapshot", scope: httpRoutes, items: [route("a", 10)] }));
      assert.deepEqual(await summary(store, start), [["DELETED", "HTTPRoute", "b"]]);
      assert.equal((await store.getRevision(gateway("gw").ref))?.object?.kind, "Gateway");
    });
  });

  it("should infer deletions of a paged snapshot at its end, across observations", async () => {
    await withFreshStore(async (store, make) => {
      const ingest = make();
      await ingest.accept(
        obs(...["a", "b", "c", "d"].map((n) => ({ type: "upsert", item: route(n, 1) }) as const)),
      );
      const start = await store.lastSeq();
      await ingest.accept(obs({ type: "snapshot-begin", id: "list-1", scope: httpRoutes }));
      await ingest.accept(obs({ type: "snapshot-page", id: "list-1", items: [route("a", 2)] }));
      await ingest.accept(obs({ type: "snapshot-page", id: "list-1", items: [route("c", 1)] }));
      // Pages commit as they come; nothing is deleted before the end.
      assert.deepEqual(await summary(store, start), [["MODIFIED", "HTTPRoute", "a"]]);
      await ingest.accept(obs({ type: "snapshot-end", id: "list-1" }));
      assert.deepEqual(await summary(store, start), [
        ["MODIFIED", "HTTPRoute", "a"],
        ["DELETED", "HTTPRoute", "b"],
        ["DELETED", "HTTPRoute", "d"],
      ]);
    });
  });

  it("should record a GAP, not deletions, for a paged snapshot that ends without its begin", async () => {
    await withFreshStore(async (store, make) => {
      const ingest = make();
      await ingest.accept(obs({ type: "upsert", item: route("a", 1) }));
      await make().accept(obs({ type: "snapshot-end", id: "lost" }));
      const last = (await store.readChanges({})).at(-1);
      assert.equal(last?.type, "GAP");
      assert.equal(last?.notice?.code, "CRW_SNAPSHOT_INCOMPLETE");
    });
  });

  it("should apply an observation's actor and cause to its items and to inferred deletions", async () => {
    await withFreshStore(async (store, make) => {
      const ingest = make();
      await ingest.accept(
        obs({ type: "upsert", item: route("a", 1) }, { type: "upsert", item: route("b", 1) }),
      );
      const start = await store.lastSeq();
      const actor = { name: "Jane Doe", email: "jane@example.org", via: "git" };
      const cause = { kind: "commit", id: "4f2c1e0", message: "Retire route b" };
      const own = { name: "bob", via: "kubectl" };
      await ingest.accept({
        ...obs(
          { type: "upsert", item: route("a", 2) },
          { type: "upsert", item: { ...route("c", 1), actor: own } },
          { type: "snapshot", scope: httpRoutes, items: [route("a", 2), route("c", 1)] },
        ),
        actor,
        cause,
      });
      const changes = await store.readChanges({ afterSeq: start });
      assert.deepEqual(
        changes.map((c) => [c.type, c.ref.name, c.actor?.name, c.cause?.id]),
        [
          ["MODIFIED", "a", "Jane Doe", "4f2c1e0"],
          ["ADDED", "c", "bob", "4f2c1e0"],
          ["DELETED", "b", "Jane Doe", "4f2c1e0"],
        ],
      );
    });
  });

  it("should save several streams' cursors with the changes", async () => {
    await withFreshStore(async (store, make) => {
      await make().accept({
        ...obs({ type: "upsert", item: route("a", 1) }),
        cursors: {
          "HTTPRoute.gateway.networking.k8s.io": "100",
          "Gateway.gateway.networking.k8s.io": "7",
        },
      });
      await make().accept({ ...obs(), cursors: { "HTTPRoute.gateway.networking.k8s.io": "120" } });
      assert.deepEqual(await store.getSourceCursors(SOURCE), {
        "Gateway.gateway.networking.k8s.io": "7",
        "HTTPRoute.gateway.networking.k8s.io": "120",
      });
    });
  });

  it("should make a stale writer reload its heads on a conflict instead of forking a history", async () => {
    await withFreshStore(async (store, make) => {
      const first = make();
      const second = make();
      await first.accept(obs({ type: "upsert", item: route("a", 1) }));
      await second.accept(obs({ type: "upsert", item: route("a", 1) })); // loads heads: rev 1
      await first.accept(obs({ type: "upsert", item: route("a", 2) })); // rev 2
      // `second` still believes revision 1 is the head.
      await assert.rejects(second.accept(obs({ type: "upsert", item: route("a", 3) })), {
        code: "CRW_STORE_CONFLICT",
      });
      // The retry (as the source runtime does it) builds on the reloaded head.
      await second.accept(obs({ type: "upsert", item: route("a", 3) }));
      const revisions = await store.listRevisions(route("a", 1).ref);
      assert.deepEqual(
        revisions.map((r) => r.revision),
        [1, 2, 3],
      );
      assert.ok((await store.verify()).ok);
    });
  });
});

describe("Ingest when a transaction fails", () => {
  it("should commit another source's observation that was already collected behind a failed batch", async () => {
    await withFreshStore(async (store, make) => {
      const fresh = make();
      const stale = new Ingest({
        store,
        masker: createMasker({ key: Buffer.from("k") }),
        log: pino({ level: "silent" }),
        maxObservationsPerCommit: 1,
      });
      await stale.accept(obs({ type: "upsert", item: route("a", 1) }));
      await fresh.accept(obs({ type: "upsert", item: route("a", 2) })); // stale is behind
      const other = route("b", 7);
      other.ref = { ...other.ref, source: "other" };
      const [failed, committed] = await Promise.allSettled([
        stale.accept(obs({ type: "upsert", item: route("a", 3) })),
        // Collected while the first commits (batches overlap), so it must be collected again.
        stale.accept({ ...obs({ type: "upsert", item: other }), source: "other" }),
      ]);
      assert.equal(failed.status, "rejected");
      assert.equal(committed.status, "fulfilled");
      assert.equal((await store.listRevisions(other.ref)).length, 1);
    });
  });

  it("should also reject what the failed source queued behind it, so nothing of it commits out of order", async () => {
    await withFreshStore(async (store, make) => {
      const fresh = make();
      const stale = new Ingest({
        store,
        masker: createMasker({ key: Buffer.from("k") }),
        log: pino({ level: "silent" }),
        maxObservationsPerCommit: 1,
      });
      await stale.accept(obs({ type: "upsert", item: route("a", 1) })); // heads loaded: rev 1
      await fresh.accept(obs({ type: "upsert", item: route("a", 2) })); // rev 2: stale is behind
      const queued = [3, 4, 5].map((w) =>
        stale.accept(obs({ type: "upsert", item: route("a", w) })),
      );
      const outcomes = await Promise.allSettled(queued);
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ["rejected", "rejected", "rejected"],
      );
      // Nothing of the three went in; retried in order, they go in in order.
      for (const w of [3, 4, 5]) await stale.accept(obs({ type: "upsert", item: route("a", w) }));
      const revisions = await store.listRevisions(route("a", 1).ref);
      const weightOf = (object: JsonObject | null) => {
        const rules = (object?.spec as JsonObject | undefined)?.rules as JsonObject[] | undefined;
        const refs = rules?.[0]?.backendRefs as JsonObject[] | undefined;
        return refs?.[0]?.weight;
      };
      assert.deepEqual(
        revisions.map((r) => weightOf(r.object)),
        [1, 2, 3, 4, 5],
      );
    });
  });
});

describe("Ingest back-pressure by bytes", () => {
  /** A store whose commits wait until `open()`: ingest cannot catch up until then. */
  function gatedStore(store: Store) {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const sizes: number[] = [];
    const gated = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === "commit")
          return async (batch: Parameters<Store["commit"]>[0]) => {
            await gate;
            sizes.push(batch.changes.length);
            return target.commit(batch);
          };
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return {
      gated,
      sizes,
      open: () => open(),
    };
  }

  const textRoute = (name: string, weight: number): ObservedObject => {
    const { object, ...fields } = route(name, weight);
    return observedText(JSON.stringify(object), fields);
  };
  const settled = async (p: Promise<unknown>) => {
    let done = false;
    void p.then(() => (done = true));
    // Several turns: a commit and the promise chain behind it take more than one.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    return done;
  };

  it("should hold a source in room() while its queued bytes wait, accept what it sends anyway, and drop nothing", async () => {
    await withFreshStore(async (store) => {
      const { gated, open } = gatedStore(store);
      const [a, b] = [textRoute("a", 1), textRoute("b", 1)];
      const bytes = a.json!.length + b.json!.length;
      const ingest = new Ingest({
        store: gated,
        masker: createMasker({ key: Buffer.from("k") }),
        log: pino({ level: "silent" }),
        maxQueuedBytes: bytes,
      });
      assert.equal(await settled(ingest.room()), true, "room while nothing is queued");
      const accepted = [
        ingest.accept(obs({ type: "upsert", item: a })),
        ingest.accept(obs({ type: "upsert", item: b })),
      ];
      assert.equal(ingest.pendingBytes(), bytes);
      const room = ingest.room();
      assert.equal(await settled(room), false, "held: two objects' bytes wait for a commit");
      // A source that does not wait is not refused.
      accepted.push(ingest.accept(obs({ type: "upsert", item: textRoute("c", 1) })));
      open();
      await Promise.all(accepted);
      assert.equal(await settled(room), true, "let go once ingest caught up");
      assert.equal(ingest.pendingBytes(), 0);
      for (const name of ["a", "b", "c"])
        assert.equal((await store.listRevisions(route(name, 1).ref)).length, 1, name);
    });
  });

  it("should let a waiting source go when the observations it waited on fail", async () => {
    await withFreshStore(async (store) => {
      const failing = new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === "commit") return async () => Promise.reject(new Error("disk full"));
          const value = Reflect.get(target, prop, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const ingest = new Ingest({
        store: failing,
        masker: createMasker({ key: Buffer.from("k") }),
        log: pino({ level: "silent" }),
        maxQueuedBytes: 1,
      });
      const accepted = ingest.accept(obs({ type: "upsert", item: textRoute("a", 1) }));
      const room = ingest.room();
      await assert.rejects(accepted, /disk full/);
      assert.equal(await settled(room), true);
      assert.equal(ingest.pendingBytes(), 0);
    });
  });

  it("should fold queued observations into one transaction only up to maxBatchBytes", async () => {
    await withFreshStore(async (store) => {
      const { gated, sizes, open } = gatedStore(store);
      const first = textRoute("a", 1);
      const ingest = new Ingest({
        store: gated,
        masker: createMasker({ key: Buffer.from("k") }),
        log: pino({ level: "silent" }),
        // Two of these objects fit, a third does not.
        maxBatchBytes: first.json!.length * 2 + 10,
      });
      const accepted = [ingest.accept(obs({ type: "upsert", item: first }))];
      // Queued together: without the byte cap they would share one transaction.
      for (const name of ["b", "c", "d", "e", "f"])
        accepted.push(ingest.accept(obs({ type: "upsert", item: textRoute(name, 1) })));
      open();
      await Promise.all(accepted);
      assert.deepEqual(sizes, [2, 2, 2]);
      assert.equal(
        sizes.reduce((a, b) => a + b),
        6,
        "nothing dropped",
      );
    });
  });
});

describe("Ingest reads of objects not in memory", () => {
  it("should read a batch's missing befores from the store together, not one after another", async () => {
    const dir = await tempDir();
    const store = await openSqliteStore({ dir: dir.path });
    const options = {
      masker: createMasker({ key: Buffer.from("k") }),
      log: pino({ level: "silent" }),
      // No object cache: every MODIFIED reads its before from the store.
      maxCachedObjectBytes: 0,
    };
    try {
      const names = ["a", "b", "c", "d"];
      const first = new Ingest({ store, ...options });
      await first.accept(
        obs(...names.map((n) => ({ type: "upsert" as const, item: route(n, 90) }))),
      );
      let inFlight = 0;
      let most = 0;
      const counting: Store = Object.create(store, {
        getRevision: {
          value: async (ref: Ref, revision?: number) => {
            inFlight++;
            most = Math.max(most, inFlight);
            // A round trip's worth of waiting, as PostgreSQL has.
            await new Promise((r) => setTimeout(r, 5));
            try {
              return await store.getRevision(ref, revision);
            } finally {
              inFlight--;
            }
          },
        },
      });
      const ingest = new Ingest({ store: counting, ...options });
      await ingest.accept(
        obs(...names.map((n) => ({ type: "upsert" as const, item: route(n, 10) }))),
      );
      const changes = await store.readChanges({ afterSeq: 0 });
      assert.deepEqual(
        changes.map((c) => `${c.type} ${c.ref.name}`),
        [...names.map((n) => `ADDED ${n}`), ...names.map((n) => `MODIFIED ${n}`)],
      );
      assert.equal(most, names.length, "all four reads in flight at once");
    } finally {
      await store.close();
      await dir.cleanup();
    }
  });
});
