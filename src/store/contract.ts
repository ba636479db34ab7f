import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { diff } from "../core/diff.js";
import { GENESIS_HASH } from "../core/hash-chain.js";
import { sha256Hex } from "../core/stable-json.js";
import type { Change, ChangeType, NewChange } from "../model/change.js";
import type { JsonObject } from "../model/json.js";
import { noticeRef, type Ref } from "../model/ref.js";
import { matchesChangeQuery } from "./change-query.js";
import type { ChangeQuery, CommitBatch, DeadLetter, Store } from "./store.js";

/**
 * Runs SQL against the store's tables through a connection of its own (unqualified table
 * names), as someone with access to the database could: returns the rows of a query.
 */
export type RawSql = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

export type OpenStore = () => Promise<{ store: Store; cleanup: () => Promise<void>; raw: RawSql }>;

const OBSERVED_AT = "2024-05-01T10:00:00.000Z";

export function routeRef(name: string, over: Partial<Ref> = {}): Ref {
  return {
    source: "local",
    group: "gateway.networking.k8s.io",
    kind: "HTTPRoute",
    namespace: "shop",
    name,
    ...over,
  };
}

function routeObject(ref: Ref, hostname: string): JsonObject {
  return {
    apiVersion: `${ref.group}/v1`,
    kind: ref.kind,
    metadata: { namespace: ref.namespace, name: ref.name },
    spec: { hostnames: [hostname] },
  };
}

/** A resource change; revision numbers are the caller's, as ingest assigns them. */
export function resourceChange(
  type: "ADDED" | "MODIFIED" | "DELETED",
  ref: Ref,
  revision: number,
  over: Partial<NewChange> = {},
): NewChange {
  const object = type === "DELETED" ? null : routeObject(ref, `r${revision}.example.com`);
  return {
    type,
    ref,
    revision,
    previousRevision: revision > 1 ? revision - 1 : null,
    actor: { name: "alice", via: "git" },
    cause: { kind: "commit", id: `c${revision}`, message: "change routes" },
    location: { path: `routes/${ref.name}.yaml`, line: 1, document: 0 },
    observedAt: OBSERVED_AT,
    patch: [{ op: "replace", path: "/spec/hostnames/0", value: `r${revision}.example.com` }],
    summary: [`${type.toLowerCase()} ${ref.name}`],
    findings: [{ ruleId: "route.public", severity: "medium", message: "public host" }],
    notice: null,
    object,
    contentHash: object ? sha256Hex(JSON.stringify(object)) : null,
    ...over,
  };
}

export function noticeChange(
  type: "GAP" | "ERROR",
  source: string,
  over: Partial<NewChange> = {},
): NewChange {
  return {
    type,
    ref: noticeRef(source),
    revision: null,
    previousRevision: null,
    actor: null,
    cause: null,
    location: null,
    observedAt: OBSERVED_AT,
    patch: [],
    summary: [],
    findings: [],
    notice: { code: type === "GAP" ? "CRW_WATCH_EXPIRED" : "CRW_YAML_SYNTAX", message: "m" },
    object: null,
    contentHash: null,
    ...over,
  };
}

function problem(source: string, path: string, fingerprint: string): NewChange {
  return noticeChange("ERROR", source, { location: { path, line: 3 }, fingerprint });
}

export function batchOf(changes: NewChange[], over: Partial<CommitBatch> = {}): CommitBatch {
  return { changes, cursors: [], resolvedProblems: [], ...over };
}

/**
 * The behaviour every store dialect must show. `open` gives a fresh, empty store; the
 * suite closes the store before calling `cleanup`.
 */
export function storeContract(name: string, open: OpenStore): void {
  describe(`store contract: ${name}`, () => {
    const ctx = useStore(open);
    describeSequence(ctx);
    describeRevisions(ctx);
    describeAtomicity(ctx);
    describeReadChanges(ctx);
    describeChangeFilters(ctx);
    describeResources(ctx);
    describeProblems(ctx);
    describeConsumers(ctx);
    describeVerify(ctx);
    describeSnapshots(ctx);
    describeRemask(ctx);
  });
}

interface StoreContext {
  readonly store: Store;
  readonly raw: RawSql;
}

function useStore(open: OpenStore): StoreContext {
  let current: Awaited<ReturnType<OpenStore>> | undefined;
  beforeEach(async () => {
    current = await open();
  });
  afterEach(async () => {
    await current?.store.close();
    await current?.cleanup();
    current = undefined;
  });
  return {
    get store(): Store {
      assert.ok(current, "store is open");
      return current.store;
    },
    get raw(): RawSql {
      assert.ok(current, "store is open");
      return current.raw;
    },
  };
}

function describeSequence(ctx: StoreContext): void {
  describe("sequence and hash chain", () => {
    it("should assign seq 1, 2, 3 … without gaps across commits", async () => {
      const first = await ctx.store.commit(batchOf([add("a"), add("b")]));
      const second = await ctx.store.commit(batchOf([add("c"), add("d"), add("e")]));
      assert.deepEqual(
        [...first, ...second].map((c) => c.seq),
        [1, 2, 3, 4, 5],
      );
      assert.equal(await ctx.store.lastSeq(), 5);
    });

    it("should report lastSeq 0 and no changes when the log is empty", async () => {
      assert.equal(await ctx.store.lastSeq(), 0);
      assert.deepEqual(await ctx.store.readChanges({}), []);
      assert.equal(await ctx.store.getChange(1), undefined);
    });

    it("should link each change to the hash of the one before, from the genesis hash", async () => {
      await ctx.store.commit(batchOf([add("a")]));
      await ctx.store.commit(batchOf([add("b"), add("c")]));
      const changes = await ctx.store.readChanges({});
      assert.equal(changes[0]?.prevHash, GENESIS_HASH);
      for (let i = 1; i < changes.length; i++) {
        assert.equal(changes[i]?.prevHash, changes[i - 1]?.hash);
      }
      assert.equal(new Set(changes.map((c) => c.hash)).size, 3);
    });

    it("should return from commit exactly what readChanges and getChange read back", async () => {
      const committed = await ctx.store.commit(batchOf(mixedChanges()));
      assert.deepEqual(await ctx.store.readChanges({}), committed);
      assert.deepEqual(await ctx.store.getChange(2), committed[1]);
    });

    it("should keep every field of a change as it was given", async () => {
      const given = resourceChange("MODIFIED", routeRef('ünï/cödé "q"'), 2, {
        previousRevision: null,
        summary: ["hostname r1 → r2", "line\nbreak"],
        patch: [{ op: "move", from: "/a", path: "/b" }],
      });
      const [stored] = await ctx.store.commit(batchOf([given]));
      assert.ok(stored);
      const { object: _object, fingerprint: _fingerprint, ...expected } = given;
      const { id, seq, hash, prevHash, committedAt, ...rest } = stored;
      assert.deepEqual(rest, expected);
      assert.equal(id, hash.slice(0, 32));
      assert.equal(seq, 1);
      assert.match(hash, /^[0-9a-f]{64}$/);
      assert.equal(prevHash, GENESIS_HASH);
      assert.ok(!Number.isNaN(Date.parse(committedAt)));
    });
  });
}

function describeRevisions(ctx: StoreContext): void {
  describe("revisions and heads", () => {
    const ref = routeRef("storefront");
    const history: NewChange[] = [
      resourceChange("ADDED", ref, 1),
      resourceChange("MODIFIED", ref, 2),
      resourceChange("DELETED", ref, 3),
      resourceChange("ADDED", ref, 4, { previousRevision: 3 }),
    ];

    it("should refuse a stale writer with CRW_STORE_CONFLICT and write nothing", async () => {
      await ctx.store.commit(batchOf([resourceChange("ADDED", ref, 1)]));
      await ctx.store.commit(batchOf([resourceChange("MODIFIED", ref, 2)]));
      // A second writer still believes revision 1 is the head.
      const stale = resourceChange("MODIFIED", ref, 2, { previousRevision: 1 });
      await assert.rejects(ctx.store.commit(batchOf([add("other"), stale])), (err: unknown) => {
        assert.equal((err as { code?: string }).code, "CRW_STORE_CONFLICT");
        assert.match(String(err), /expected revision 1 as the head, but the store has revision 2/);
        return true;
      });
      assert.equal(await ctx.store.lastSeq(), 2);
      assert.equal((await ctx.store.listRevisions(ref)).length, 2);
      assert.deepEqual(await ctx.store.verify(), { ok: true, checked: 2, lastSeq: 2 });
    });

    it("should refuse an ADDED for a ref that already has a history", async () => {
      await ctx.store.commit(batchOf([resourceChange("ADDED", ref, 1)]));
      await assert.rejects(ctx.store.commit(batchOf([resourceChange("ADDED", ref, 1)])), {
        code: "CRW_STORE_CONFLICT",
      });
    });

    it("should accept several changes of one ref in a batch, checking the first against the head", async () => {
      await ctx.store.commit(batchOf(history.slice(0, 2)));
      await ctx.store.commit(batchOf(history.slice(2)));
      assert.equal((await ctx.store.getRevision(ref))?.revision, 4);
    });

    it("should keep revisions 1..4 with a tombstone after ADDED → MODIFIED → DELETED → ADDED", async () => {
      for (const change of history) await ctx.store.commit(batchOf([change]));
      const revisions = await ctx.store.listRevisions(ref);
      assert.deepEqual(
        revisions.map((r) => [r.revision, r.seq, r.object === null]),
        [
          [1, 1, false],
          [2, 2, false],
          [3, 3, true],
          [4, 4, false],
        ],
      );
      assert.deepEqual(revisions[1]?.object, history[1]?.object);
      assert.equal(revisions[2]?.contentHash, null);
      assert.deepEqual(revisions[3]?.location, history[3]?.location);
    });

    it("should give the latest revision when none is named, and the named one otherwise", async () => {
      for (const change of history) await ctx.store.commit(batchOf([change]));
      assert.equal((await ctx.store.getRevision(ref))?.revision, 4);
      assert.deepEqual((await ctx.store.getRevision(ref, 2))?.object, history[1]?.object);
      assert.equal((await ctx.store.getRevision(ref, 3))?.object, null);
      assert.equal(await ctx.store.getRevision(ref, 9), undefined);
      assert.equal(await ctx.store.getRevision(routeRef("nothing")), undefined);
      assert.deepEqual(await ctx.store.listRevisions(routeRef("nothing")), []);
    });

    it("should mark the head deleted on DELETED and live again on the next ADDED", async () => {
      await ctx.store.commit(batchOf(history.slice(0, 3)));
      const [tombstone] = await ctx.store.loadHeads("local");
      assert.deepEqual(tombstone, {
        ref,
        revision: 3,
        contentHash: null,
        deleted: true,
        location: history[2]?.location,
      });
      await ctx.store.commit(batchOf(history.slice(3)));
      const [live] = await ctx.store.loadHeads("local");
      assert.equal(live?.revision, 4);
      assert.equal(live?.deleted, false);
      assert.equal(live?.contentHash, history[3]?.contentHash);
    });

    it("should load the heads of one source only", async () => {
      const other = routeRef("storefront", { source: "cluster" });
      await ctx.store.commit(
        batchOf([add("a"), resourceChange("ADDED", other, 1), noticeChange("GAP", "local")]),
      );
      const heads = await ctx.store.loadHeads("local");
      assert.deepEqual(
        heads.map((h) => h.ref),
        [routeRef("a")],
      );
      assert.deepEqual(await ctx.store.loadHeads("nowhere"), []);
    });
  });
}

function describeAtomicity(ctx: StoreContext): void {
  describe("one transaction per commit", () => {
    const ref = routeRef("storefront");

    async function commitBaseline(): Promise<void> {
      await ctx.store.commit(
        batchOf([resourceChange("ADDED", ref, 1), problem("local", "bad.yaml", "f1")], {
          cursors: [{ source: "local", stream: "default", cursor: "c1" }],
        }),
      );
    }

    async function assertBaseline(): Promise<void> {
      assert.equal(await ctx.store.lastSeq(), 2);
      assert.deepEqual(await ctx.store.getSourceCursors("local"), { default: "c1" });
      assert.deepEqual(
        (await ctx.store.loadHeads("local")).map((h) => [h.ref.name, h.revision, h.deleted]),
        [["storefront", 1, false]],
      );
      assert.equal((await ctx.store.listRevisions(ref)).length, 1);
      assert.deepEqual(await ctx.store.openProblems("local"), [
        { location: "bad.yaml", fingerprint: "f1", seq: 2 },
      ]);
      assert.deepEqual(await ctx.store.verify(), { ok: true, checked: 2, lastSeq: 2 });
    }

    it("should save the source cursor with the changes", async () => {
      assert.deepEqual(await ctx.store.getSourceCursors("local"), {});
      await commitBaseline();
      await ctx.store.commit(
        batchOf([], { cursors: [{ source: "local", stream: "default", cursor: "c2" }] }),
      );
      assert.deepEqual(await ctx.store.getSourceCursors("local"), { default: "c2" });
      assert.equal(await ctx.store.lastSeq(), 2);
    });

    it("should keep one cursor per stream, moving only the streams a commit names", async () => {
      const cursor = (stream: string, value: string) => ({ source: "k8s", stream, cursor: value });
      await ctx.store.commit(
        batchOf([], { cursors: [cursor("HTTPRoute", "100"), cursor("Gateway", "200")] }),
      );
      await ctx.store.commit(batchOf([], { cursors: [cursor("HTTPRoute", "150")] }));
      assert.deepEqual(await ctx.store.getSourceCursors("k8s"), {
        Gateway: "200",
        HTTPRoute: "150",
      });
      assert.deepEqual(await ctx.store.getSourceCursors("local"), {});
    });

    it("should leave no row, cursor, head or problem change when a change fails mid-batch", async () => {
      await commitBaseline();
      const broken = resourceChange("ADDED", routeRef(null as unknown as string), 1);
      const batch = batchOf(
        [resourceChange("MODIFIED", ref, 2), problem("local", "other.yaml", "f2"), broken],
        {
          cursors: [{ source: "local", stream: "default", cursor: "c2" }],
          resolvedProblems: [{ source: "local", location: "bad.yaml" }],
        },
      );
      await assert.rejects(ctx.store.commit(batch));
      await assertBaseline();
    });

    it("should roll the changes back when the cursor cannot be saved", async () => {
      await commitBaseline();
      const batch = batchOf([resourceChange("MODIFIED", ref, 2)], {
        cursors: [{ source: "local", stream: "default", cursor: null as unknown as string }],
      });
      await assert.rejects(ctx.store.commit(batch));
      await assertBaseline();
    });

    it("should continue the sequence without a gap after a failed commit", async () => {
      await commitBaseline();
      const broken = resourceChange("ADDED", routeRef(null as unknown as string), 1);
      await assert.rejects(ctx.store.commit(batchOf([add("x"), broken])));
      const [next] = await ctx.store.commit(batchOf([add("y")]));
      assert.equal(next?.seq, 3);
      assert.equal((await ctx.store.verify()).ok, true);
    });
  });
}

function describeReadChanges(ctx: StoreContext): void {
  describe("readChanges", () => {
    beforeEach(async () => {
      await ctx.store.commit(batchOf(mixedChanges()));
    });

    const seqs = (changes: Change[]) => changes.map((c) => c.seq);

    it("should read in seq order after afterSeq, up to limit", async () => {
      assert.deepEqual(seqs(await ctx.store.readChanges({})), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(seqs(await ctx.store.readChanges({ afterSeq: 2 })), [3, 4, 5, 6]);
      assert.deepEqual(seqs(await ctx.store.readChanges({ afterSeq: 2, limit: 2 })), [3, 4]);
      assert.deepEqual(seqs(await ctx.store.readChanges({ afterSeq: 6 })), []);
      assert.deepEqual(seqs(await ctx.store.readChanges({ limit: 0 })), []);
    });

    it("should filter by type, treating an empty list as no filter", async () => {
      const types = (t: ChangeType[]) => ctx.store.readChanges({ types: t });
      assert.deepEqual(seqs(await types(["DELETED", "GAP"])), [3, 5]);
      assert.deepEqual(seqs(await types(["ERROR"])), [6]);
      assert.deepEqual(seqs(await types([])), [1, 2, 3, 4, 5, 6]);
    });

    it("should match refContains case-insensitively against the formatted ref", async () => {
      const match = async (refContains: string) =>
        seqs(await ctx.store.readChanges({ refContains }));
      assert.deepEqual(await match("STOREFRONT"), [1, 2, 3]);
      assert.deepEqual(await match("shop/storefront"), [1, 2, 3]);
      assert.deepEqual(await match("local:HTTPRoute.gateway.networking.k8s.io shop/"), [1, 2, 3]);
      assert.deepEqual(await match("local:httproute "), [4]);
      assert.deepEqual(await match("cluster: "), [5]);
      assert.deepEqual(await match("nothing"), []);
    });

    it("should treat % and _ in refContains as plain characters", async () => {
      await ctx.store.commit(batchOf([add("a_b"), add("axb"), add("50%off")]));
      const match = async (refContains: string) =>
        (await ctx.store.readChanges({ refContains })).map((c) => c.ref.name);
      assert.deepEqual(await match("a_b"), ["a_b"]);
      assert.deepEqual(await match("%"), ["50%off"]);
    });

    it("should combine afterSeq, types, refContains and limit", async () => {
      const query = { afterSeq: 1, types: ["MODIFIED", "DELETED"] as ChangeType[] };
      assert.deepEqual(
        seqs(await ctx.store.readChanges({ ...query, refContains: "front" })),
        [2, 3],
      );
      assert.deepEqual(seqs(await ctx.store.readChanges({ ...query, limit: 1 })), [2]);
    });
  });
}

/** seq 1-4 over two sources, actors, namespaces and finding severities. */
function filterChanges(): NewChange[] {
  const front = routeRef("storefront");
  const none = { findings: [] };
  return [
    resourceChange("ADDED", front, 1, none),
    resourceChange("MODIFIED", front, 2, {
      actor: { name: "bob" },
      findings: [{ ruleId: "r.high", severity: "high", message: "m" }],
    }),
    resourceChange("ADDED", routeRef("api", { source: "cluster", namespace: "edge" }), 1),
    resourceChange("ADDED", routeRef("gw", { kind: "Gateway", namespace: "edge" }), 1, {
      actor: null,
      findings: [
        { ruleId: "r.low", severity: "low", message: "m" },
        { ruleId: "r.crit", severity: "critical", message: "m" },
      ],
    }),
  ];
}

function describeChangeFilters(ctx: StoreContext): void {
  describe("readChanges filters, order and window", () => {
    let all: Change[] = [];
    beforeEach(async () => {
      all = await ctx.store.commit(batchOf(filterChanges()));
    });
    const seqs = async (query: ChangeQuery) =>
      (await ctx.store.readChanges(query)).map((c) => c.seq);

    const cases: [string, ChangeQuery, number[]][] = [
      ["source", { source: "cluster" }, [3]],
      ["group", { group: "gateway.networking.k8s.io" }, [1, 2, 3, 4]],
      ["kind", { kind: "Gateway" }, [4]],
      ["namespace", { namespace: "edge" }, [3, 4]],
      ["name", { name: "storefront" }, [1, 2]],
      ["actor", { actor: "bob" }, [2]],
      ["one severity", { severities: ["critical"] }, [4]],
      ["several severities", { severities: ["high", "low"] }, [2, 4]],
      ["source and namespace", { source: "local", namespace: "edge" }, [4]],
      ["no severity listed", { severities: [] }, [1, 2, 3, 4]],
    ];
    for (const [what, query, expected] of cases) {
      it(`should filter by ${what}, as matchesChangeQuery does`, async () => {
        assert.deepEqual(await seqs(query), expected);
        const inMemory = all.filter((c) => matchesChangeQuery(c, query)).map((c) => c.seq);
        assert.deepEqual(inMemory, expected);
      });
    }

    it("should read newest first with order desc, below beforeSeq", async () => {
      assert.deepEqual(await seqs({ order: "desc" }), [4, 3, 2, 1]);
      assert.deepEqual(await seqs({ order: "desc", beforeSeq: 4, limit: 2 }), [3, 2]);
      assert.deepEqual(await seqs({ afterSeq: 1, beforeSeq: 4 }), [2, 3]);
    });

    it("should filter by commit time, from inclusive and to exclusive", async () => {
      const at = all[0]?.committedAt as string;
      const later = new Date(Date.parse(at) + 1).toISOString();
      assert.deepEqual(await seqs({ committedFrom: at }), [1, 2, 3, 4]);
      assert.deepEqual(await seqs({ committedTo: at }), []);
      assert.deepEqual(await seqs({ committedFrom: later }), []);
      const inMemory = all.filter((c) => matchesChangeQuery(c, { committedTo: later }));
      assert.equal(inMemory.length, 4);
      assert.deepEqual(await seqs({ committedTo: later }), [1, 2, 3, 4]);
    });
  });
}

function describeResources(ctx: StoreContext): void {
  describe("listResources", () => {
    const front = routeRef("storefront");
    const api = routeRef("api", { source: "cluster", namespace: "edge" });
    const gone = routeRef("gone");
    beforeEach(async () => {
      await ctx.store.commit(
        batchOf([
          resourceChange("ADDED", front, 1),
          resourceChange("MODIFIED", front, 2),
          resourceChange("ADDED", api, 1),
          resourceChange("ADDED", gone, 1),
          resourceChange("DELETED", gone, 2),
          noticeChange("GAP", "local"),
        ]),
      );
    });
    const names = async (query: Parameters<Store["listResources"]>[0]) =>
      (await ctx.store.listResources(query)).map((r) => `${r.ref.name}@${r.revision}`);

    it("should list the latest revision of each live ref in ref order", async () => {
      assert.deepEqual(await names({}), ["api@1", "storefront@2"]);
      const [first] = await ctx.store.listResources({ name: "storefront" });
      assert.equal(first?.object?.kind, "HTTPRoute");
      assert.equal(first?.seq, 2);
    });

    it("should include tombstones only when asked", async () => {
      assert.deepEqual(await names({ includeDeleted: true }), ["api@1", "gone@2", "storefront@2"]);
      const [tomb] = await ctx.store.listResources({ name: "gone", includeDeleted: true });
      assert.equal(tomb?.object, null);
    });

    it("should filter by the parts of the ref", async () => {
      assert.deepEqual(await names({ source: "cluster" }), ["api@1"]);
      assert.deepEqual(await names({ namespace: "shop", kind: "HTTPRoute" }), ["storefront@2"]);
      assert.deepEqual(await names({ group: "other" }), []);
    });

    it("should page after a ref, up to limit", async () => {
      const query = { includeDeleted: true, limit: 2 };
      assert.deepEqual(await names(query), ["api@1", "gone@2"]);
      assert.deepEqual(await names({ ...query, afterRef: gone }), ["storefront@2"]);
      assert.deepEqual(await names({ ...query, afterRef: front }), []);
    });
  });
}

function describeProblems(ctx: StoreContext): void {
  describe("open problems and source health", () => {
    it("should open one problem per location and keep the latest fingerprint", async () => {
      await ctx.store.commit(batchOf([problem("local", "a.yaml", "f1")]));
      await ctx.store.commit(
        batchOf([problem("local", "a.yaml", "f2"), problem("local", "b.yaml", "f3")]),
      );
      await ctx.store.commit(batchOf([problem("other", "a.yaml", "f4")]));
      assert.deepEqual(await ctx.store.openProblems("local"), [
        { location: "a.yaml", fingerprint: "f2", seq: 2 },
        { location: "b.yaml", fingerprint: "f3", seq: 3 },
      ]);
    });

    it("should not open a problem for an ERROR without a fingerprint", async () => {
      await ctx.store.commit(
        batchOf([noticeChange("ERROR", "local", { location: { path: "x" } })]),
      );
      assert.deepEqual(await ctx.store.openProblems("local"), []);
    });

    it("should resolve a problem of its own source only", async () => {
      await ctx.store.commit(
        batchOf([problem("local", "a.yaml", "f1"), problem("other", "a.yaml", "f2")]),
      );
      await ctx.store.commit(
        batchOf([], { resolvedProblems: [{ source: "local", location: "a.yaml" }] }),
      );
      assert.deepEqual(await ctx.store.openProblems("local"), []);
      assert.equal((await ctx.store.openProblems("other")).length, 1);
    });

    it("should keep the latest health of each source", async () => {
      const at = "2024-05-01T10:00:00.000Z";
      await ctx.store.setSourceHealth({
        source: "b",
        status: "starting",
        message: "",
        updatedAt: at,
      });
      await ctx.store.setSourceHealth({ source: "a", status: "ok", message: "", updatedAt: at });
      await ctx.store.setSourceHealth({
        source: "b",
        status: "degraded",
        message: "slow",
        updatedAt: at,
        attempts: 3,
      });
      assert.deepEqual(await ctx.store.listSourceHealth(), [
        { source: "a", status: "ok", message: "", updatedAt: at, attempts: 0 },
        { source: "b", status: "degraded", message: "slow", updatedAt: at, attempts: 3 },
      ]);
    });
  });
}

function describeConsumers(ctx: StoreContext): void {
  describe("consumer cursors and dead letters", () => {
    it("should start a consumer at 0 and keep each consumer's cursor apart", async () => {
      assert.equal(await ctx.store.getConsumerCursor("webhook"), 0);
      await ctx.store.setConsumerCursor("webhook", 5);
      await ctx.store.setConsumerCursor("slack", 2);
      await ctx.store.setConsumerCursor("webhook", 7);
      assert.equal(await ctx.store.getConsumerCursor("webhook"), 7);
      assert.equal(await ctx.store.getConsumerCursor("slack"), 2);
      const listed = await ctx.store.listConsumerCursors();
      assert.deepStrictEqual(
        listed.map((c) => [c.consumer, c.seq]),
        [
          ["slack", 2],
          ["webhook", 7],
        ],
      );
      assert.ok(listed.every((c) => !Number.isNaN(Date.parse(c.updatedAt))));
    });

    it("should list dead letters in the order added, optionally for one consumer", async () => {
      const letters = [
        { consumer: "webhook", seq: 3, error: "HTTP 500", attempts: 5 },
        { consumer: "slack", seq: 1, error: "timeout", attempts: 2 },
        { consumer: "webhook", seq: 1, error: "HTTP 410", attempts: 1 },
      ];
      await ctx.store.advanceConsumer("webhook", 3, [letters[0]!, letters[2]!]);
      await ctx.store.advanceConsumer("slack", 1, [letters[1]!]);
      const plain = (list: DeadLetter[]) =>
        list.map(({ consumer, seq, error, attempts, state }) => ({
          consumer,
          seq,
          error,
          attempts,
          state,
        }));
      const dead = (l: (typeof letters)[number]) => ({ ...l, state: "dead" });
      assert.deepEqual(plain(await ctx.store.listDeadLetters()), [
        dead(letters[0]!),
        dead(letters[2]!),
        dead(letters[1]!),
      ]);
      assert.deepEqual(plain(await ctx.store.listDeadLetters({ consumer: "webhook" })), [
        dead(letters[0]!),
        dead(letters[2]!),
      ]);
      assert.deepEqual(await ctx.store.listDeadLetters({ consumer: "nobody" }), []);
      assert.equal(await ctx.store.getConsumerCursor("webhook"), 3);
    });

    it("should requeue, fail again and remove dead letters by filter", async () => {
      await ctx.store.advanceConsumer("webhook", 9, [
        { consumer: "webhook", seq: 4, error: "HTTP 500", attempts: 3 },
        { consumer: "webhook", seq: 7, error: "HTTP 500", attempts: 3 },
      ]);
      const [first, second] = await ctx.store.listDeadLetters();
      assert.equal(await ctx.store.requeueDeadLetters({ ids: [first!.id] }), 1);
      const retry = await ctx.store.listDeadLetters({ state: "retry" });
      assert.deepEqual(
        retry.map((l) => l.seq),
        [4],
      );
      await ctx.store.failDeadLetter(first!.id, "HTTP 503", 4);
      const again = await ctx.store.listDeadLetters({ ids: [first!.id] });
      assert.deepEqual(
        again.map((l) => [l.state, l.error, l.attempts]),
        [["dead", "HTTP 503", 4]],
      );
      assert.equal(await ctx.store.removeDeadLetters({ ids: [second!.id] }), 1);
      assert.deepEqual(
        (await ctx.store.listDeadLetters()).map((l) => l.seq),
        [4],
      );
      assert.equal(await ctx.store.removeDeadLetters({ consumer: "webhook" }), 1);
      assert.deepEqual(await ctx.store.listDeadLetters(), []);
    });
  });
}

function describeVerify(ctx: StoreContext): void {
  describe("verify", () => {
    it("should verify an empty log", async () => {
      assert.deepEqual(await ctx.store.verify(), { ok: true, checked: 0, lastSeq: 0 });
    });

    it("should verify an intact log of several commits", async () => {
      await ctx.store.commit(batchOf(mixedChanges()));
      await ctx.store.commit(
        batchOf([add("late")], { cursors: [{ source: "local", stream: "default", cursor: "9" }] }),
      );
      assert.deepEqual(await ctx.store.verify(), { ok: true, checked: 7, lastSeq: 7 });
    });
  });
}

function add(name: string): NewChange {
  return resourceChange("ADDED", routeRef(name), 1);
}

/** seq 1-3 storefront ADDED/MODIFIED/DELETED, 4 a core kind, 5 a GAP, 6 an ERROR. */
function mixedChanges(): NewChange[] {
  const front = routeRef("storefront");
  return [
    resourceChange("ADDED", front, 1),
    resourceChange("MODIFIED", front, 2),
    resourceChange("DELETED", front, 3),
    resourceChange("ADDED", routeRef("core", { group: "", namespace: "" }), 1),
    noticeChange("GAP", "cluster"),
    problem("files", "broken.yaml", "fp"),
  ];
}

/**
 * Revision n of a route as ingest would store it: keys sorted (canonical), labels that grow
 * (so patches add keys, which a rebuild appends out of order), rules that change.
 */
function versioned(ref: Ref, n: number): JsonObject {
  const labels: JsonObject = {};
  for (let i = 0; i <= n % 5; i++) labels[`l${i}`] = `v${n}`;
  return {
    apiVersion: `${ref.group}/v1`,
    kind: ref.kind,
    metadata: { labels, name: ref.name, namespace: ref.namespace },
    spec: { hostnames: [`h${n}.example.com`], rules: Array.from({ length: n % 3 }, (_, i) => i) },
  };
}

/** A history of one ref with real patches: `count` revisions, deleted and re-added midway. */
export function realHistory(
  ref: Ref,
  count: number,
): { changes: NewChange[]; objects: (JsonObject | null)[] } {
  const changes: NewChange[] = [];
  const objects: (JsonObject | null)[] = [];
  let before: JsonObject | null = null;
  for (let revision = 1; revision <= count; revision++) {
    const deleted = revision === 20;
    const after = deleted ? null : versioned(ref, revision);
    const type = before === null ? "ADDED" : deleted ? "DELETED" : "MODIFIED";
    changes.push(
      resourceChange(type, ref, revision, {
        previousRevision: revision > 1 ? revision - 1 : null,
        patch: diff(before ?? {}, after ?? {}),
        object: after,
        contentHash: after ? sha256Hex(JSON.stringify(after)) : null,
      }),
    );
    objects.push(after);
    before = after;
  }
  return { changes, objects };
}

function describeSnapshots(ctx: StoreContext): void {
  describe("snapshots every K revisions, rebuilt from patches", () => {
    const ref = routeRef("storefront");
    const { changes, objects } = realHistory(ref, 45);

    async function commitHistory(): Promise<void> {
      for (let at = 0; at < changes.length; at += 7)
        await ctx.store.commit(batchOf(changes.slice(at, at + 7)));
    }

    const snapshotSeqs = async () =>
      (await ctx.raw("SELECT seq FROM snapshots ORDER BY seq")).map((r) => Number(r.seq));

    it("should keep a full object only at revision 1, every 16th and after a re-add", async () => {
      await commitHistory();
      // 1, 17; deleted at 20, re-added at 21; then 33 by the revision count.
      assert.deepEqual(await snapshotSeqs(), [1, 17, 21, 33]);
    });

    it("should read every revision back as committed, one by one and listed", async () => {
      await commitHistory();
      const listed = await ctx.store.listRevisions(ref);
      assert.deepEqual(
        listed.map((r) => r.object),
        objects,
      );
      // Newest first, then oldest first: the cache serves some, the log the rest.
      for (const revision of [45, 44, 2, 19, 20, 21, 22, 32, 33, 34, 3]) {
        const read = await ctx.store.getRevision(ref, revision);
        assert.deepEqual(read?.object, objects[revision - 1], `revision ${revision}`);
        assert.equal(read?.seq, revision);
        assert.equal(read?.contentHash, changes[revision - 1]?.contentHash);
      }
      assert.deepEqual((await ctx.store.getRevision(ref))?.object, objects[44]);
      const [resource] = await ctx.store.listResources({ name: "storefront" });
      assert.deepEqual(resource?.object, objects[44]);
      assert.deepEqual(await ctx.store.verify(), { ok: true, checked: 45, lastSeq: 45 });
    });

    it("should give the head of each ref from the log, with no heads table written", async () => {
      await commitHistory();
      const [head] = await ctx.store.loadHeads("local");
      assert.deepEqual(head, {
        ref,
        revision: 45,
        contentHash: changes[44]?.contentHash,
        deleted: false,
        location: changes[44]?.location,
      });
    });

    it("should report a tampered snapshot, and refuse the revisions rebuilt from it", async () => {
      await commitHistory();
      const forged = JSON.stringify({
        ...versioned(ref, 17),
        spec: { hostnames: ["evil.example"] },
      });
      await ctx.raw("UPDATE snapshots SET object = $1 WHERE seq = 17", [forged]);
      const result = await ctx.store.verify();
      assert.equal(result.ok, false);
      assert.ok(!result.ok);
      assert.equal(result.firstBadSeq, 17);
      assert.match(
        result.reason,
        /revision 17 of HTTPRoute shop\/storefront \(seq 17\).*snapshot.*edited/,
      );
      for (const revision of [17, 18]) {
        await assert.rejects(ctx.store.getRevision(ref, revision), (err: unknown) => {
          assert.equal((err as { code?: string }).code, "CRW_STORE_CORRUPT");
          assert.match(String(err), new RegExp(`storefront revision ${revision} `));
          return true;
        });
      }
      await assert.rejects(ctx.store.listRevisions(ref), { code: "CRW_STORE_CORRUPT" });
      // Revisions rebuilt from another snapshot are untouched.
      assert.deepEqual((await ctx.store.getRevision(ref, 16))?.object, objects[15]);
    });

    it("should report a tampered patch as an edited change row", async () => {
      await commitHistory();
      const patch = JSON.stringify([{ op: "replace", path: "/spec/hostnames/0", value: "evil" }]);
      await ctx.raw("UPDATE changes SET patch = $1 WHERE seq = 18", [patch]);
      const result = await ctx.store.verify();
      assert.ok(!result.ok);
      assert.equal(result.firstBadSeq, 18);
      assert.match(result.reason, /seq 18 does not match its hash: the row was edited/);
      // A read cannot use the forged patch either: its result misses the committed hash.
      await assert.rejects(ctx.store.getRevision(ref, 18), { code: "CRW_STORE_CORRUPT" });
    });

    it("should report a snapshot that belongs to no resource change", async () => {
      await ctx.store.commit(batchOf([...changes.slice(0, 3), noticeChange("GAP", "local")]));
      await ctx.raw("INSERT INTO snapshots (seq, object) VALUES (4, '{}')");
      const result = await ctx.store.verify();
      assert.ok(!result.ok);
      assert.match(result.reason, /holds 2 snapshots but 1 belong to resource changes/);
    });

    it("should report a removed snapshot that a revision needs", async () => {
      await commitHistory();
      await ctx.raw("DELETE FROM snapshots WHERE seq = 21");
      const result = await ctx.store.verify();
      assert.ok(!result.ok);
      assert.equal(result.firstBadSeq, 21);
      assert.match(result.reason, /no snapshot to rebuild it from/);
    });
  });
}

function describeRemask(ctx: StoreContext): void {
  describe("re-masking heads after a mask key rotation", () => {
    const ref = routeRef("secretive");
    const withMask = (mask: string, extra: JsonObject = {}): JsonObject => ({
      ...routeObject(ref, "r1.example.com"),
      data: { password: `<masked:${mask}>`, url: `https://u:<masked:${mask}>@h`, ...extra },
    });
    const OLD = "aaaaaaaaaaaaaaaa";
    const NEW = "bbbbbbbbbbbbbbbb";
    const hashOf = (object: JsonObject) => sha256Hex(JSON.stringify(object));
    const addedWith = (object: JsonObject) =>
      resourceChange("ADDED", ref, 1, { object, contentHash: hashOf(object) });
    /** Revision 2 as ingest writes it after a re-mask: its patch is from the re-masked form. */
    const modifiedFrom = (before: JsonObject, after: JsonObject) =>
      resourceChange("MODIFIED", ref, 2, {
        object: after,
        contentHash: hashOf(after),
        patch: diff(before, after),
      });
    const remask = (object: JsonObject, revision = 1) => ({
      ref,
      revision,
      objectJson: JSON.stringify(object),
      contentHash: hashOf(object),
    });
    const remaskTo = (object: JsonObject, revision = 1) =>
      batchOf([], { remasks: [remask(object, revision)] });

    it("should give the head the new masks with no change row, and still verify", async () => {
      await ctx.store.commit(batchOf([addedWith(withMask(OLD))]));
      // Read once before, so a cached revision must not outlive the re-mask.
      assert.deepEqual((await ctx.store.getRevision(ref, 1))?.object, withMask(OLD));
      const remasked = withMask(NEW);
      const committed = await ctx.store.commit({
        ...remaskTo(remasked),
        meta: [{ key: "k", value: "v" }],
      });
      assert.deepEqual(committed, [], "a re-mask is no change");
      assert.equal(await ctx.store.lastSeq(), 1);
      const [head] = await ctx.store.loadHeads("local");
      assert.equal(head?.contentHash, hashOf(remasked));
      assert.equal(head?.revision, 1);
      assert.deepEqual((await ctx.store.getRevision(ref))?.object, remasked);
      assert.deepEqual((await ctx.store.getRevision(ref, 1))?.object, remasked);
      const [resource] = await ctx.store.listResources({ name: "secretive" });
      assert.equal(resource?.contentHash, hashOf(remasked));
      assert.equal(await ctx.store.getMeta("k"), "v", "meta is set with the batch");
      assert.deepEqual(await ctx.store.verify(), { ok: true, checked: 1, lastSeq: 1 });
    });

    it("should rebuild a later revision from the re-masked form its patch was diffed against", async () => {
      await ctx.store.commit(batchOf([addedWith(withMask(OLD))]));
      await ctx.store.commit(remaskTo(withMask(NEW)));
      const after = withMask(NEW, { colour: "red" });
      await ctx.store.commit(batchOf([modifiedFrom(withMask(NEW), after)]));
      assert.deepEqual((await ctx.store.getRevision(ref, 2))?.object, after);
      assert.deepEqual(
        (await ctx.store.listRevisions(ref)).map((r) => r.object),
        [withMask(NEW), after],
      );
      assert.deepEqual(await ctx.store.verify(), { ok: true, checked: 2, lastSeq: 2 });
    });

    it("should apply a re-mask before the changes of its batch", async () => {
      await ctx.store.commit(batchOf([addedWith(withMask(OLD))]));
      const after = withMask(NEW, { colour: "red" });
      await ctx.store.commit(
        batchOf([modifiedFrom(withMask(NEW), after)], { remasks: [remask(withMask(NEW))] }),
      );
      const [head] = await ctx.store.loadHeads("local");
      assert.equal(head?.revision, 2);
      assert.equal(head?.contentHash, hashOf(after));
      assert.deepEqual((await ctx.store.getRevision(ref))?.object, after);
      assert.deepEqual(await ctx.store.verify(), { ok: true, checked: 2, lastSeq: 2 });
    });

    it("should leave a head alone that has moved past the re-masked revision", async () => {
      await ctx.store.commit(batchOf([addedWith(withMask(OLD))]));
      const second = withMask(OLD, { colour: "red" });
      await ctx.store.commit(batchOf([modifiedFrom(withMask(OLD), second)]));
      await ctx.store.commit(remaskTo(withMask(NEW), 1));
      const [head] = await ctx.store.loadHeads("local");
      assert.equal(head?.revision, 2);
      assert.equal(head?.contentHash, hashOf(second));
      assert.deepEqual((await ctx.store.getRevision(ref, 1))?.object, withMask(OLD));
      assert.deepEqual(await ctx.store.verify(), { ok: true, checked: 2, lastSeq: 2 });
    });

    it("should fail verify when a re-masked object differs in more than its masks", async () => {
      await ctx.store.commit(batchOf([addedWith(withMask(OLD))]));
      await ctx.store.commit(remaskTo(withMask(NEW, { extra: "forged" })));
      const result = await ctx.store.verify();
      assert.ok(!result.ok);
      assert.equal(result.firstBadSeq, 1);
      assert.match(
        result.reason,
        /re-masked object differs from the committed one in more than its masks/,
      );
      await assert.rejects(ctx.store.getRevision(ref, 1), { code: "CRW_STORE_CORRUPT" });
    });

    it("should fail verify on an edited re-masked object and on one beside no resource change", async () => {
      await ctx.store.commit(batchOf([addedWith(withMask(OLD)), noticeChange("GAP", "local")]));
      await ctx.store.commit(remaskTo(withMask(NEW)));
      await ctx.raw("UPDATE remasks SET object = $1 WHERE seq = 1", [
        JSON.stringify(withMask("cccccccccccccccc")),
      ]);
      const edited = await ctx.store.verify();
      assert.ok(!edited.ok);
      assert.match(edited.reason, /re-masked object does not match its hash \(edited\)/);
      await ctx.raw("DELETE FROM remasks WHERE seq = 1");
      await ctx.raw("INSERT INTO remasks (seq, object, content_hash) VALUES (2, '{}', 'x')");
      const foreign = await ctx.store.verify();
      assert.ok(!foreign.ok);
      assert.match(foreign.reason, /holds 1 re-masked objects but 0 belong to resource changes/);
    });
  });
}
