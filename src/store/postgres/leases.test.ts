import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { postgresUrl } from "../../../test/helpers.js";
import { dropSchema, pgQuery, uniqueSchema } from "../../../test/postgres.js";
import type { CrwatchError } from "../../model/errors.js";
import { batchOf, resourceChange, routeRef } from "../contract.js";
import type { Lease } from "../store.js";
import { openPostgresStore, type PostgresStore } from "./store.js";

const TTL = 60_000;
const LEASE = "source:cluster-a";

describe("postgres leases: two replicas contend for one source", () => {
  const schema = uniqueSchema("leases");
  const stores: PostgresStore[] = [];
  after(async () => {
    for (const store of stores) await store.close();
    await dropSchema(schema);
  });

  async function replica(): Promise<PostgresStore> {
    const store = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
    stores.push(store);
    return store;
  }

  /** What a paused owner (SIGSTOP) sees on resuming: its lease ran out meanwhile. */
  const expire = (name: string) =>
    pgQuery(
      `UPDATE "${schema}".leases SET expires_at = now() - interval '1 second' WHERE name = $1`,
      [name],
    );

  const fenced = (lease: Lease, name: string, revision = 1) =>
    batchOf([resourceChange(revision === 1 ? "ADDED" : "MODIFIED", routeRef(name), revision)], {
      cursors: [{ source: "cluster-a", stream: "default", cursor: name }],
      fences: [{ lease: lease.name, token: lease.token }],
    });

  const isConflict = (err: unknown) =>
    (err as CrwatchError).code === "CRW_STORE_CONFLICT" && /must stop writing/.test(String(err));

  it("should give a live lease to one replica, fence off the old owner after a take-over, and keep tokens rising", async () => {
    const [a, b] = [await replica(), await replica()];
    const leaseA = await a.leases.acquire(LEASE, "replica-a", TTL);
    assert.equal(leaseA?.token, 1);
    assert.equal(await b.leases.acquire(LEASE, "replica-b", TTL), undefined, "A's lease is live");
    assert.equal(
      (await a.leases.acquire(LEASE, "replica-a", TTL))?.token,
      1,
      "a renewal keeps the token",
    );
    await a.commit(fenced(leaseA!, "one"));

    await expire(LEASE);
    const leaseB = await b.leases.acquire(LEASE, "replica-b", TTL);
    assert.equal(leaseB?.token, 2);
    // The old owner resumes: its commit is refused and writes nothing, not even its cursor.
    await assert.rejects(a.commit(fenced(leaseA!, "two")), isConflict);
    assert.deepEqual(await b.getSourceCursors("cluster-a"), { default: "one" });
    assert.equal(await a.leases.acquire(LEASE, "replica-a", TTL), undefined, "B holds it now");
    // The new owner goes on from the stored cursor.
    await b.commit(fenced(leaseB!, "two"));
    assert.deepEqual(await a.getSourceCursors("cluster-a"), { default: "two" });

    await b.leases.release(leaseB!);
    assert.equal((await a.leases.acquire(LEASE, "replica-a", TTL))?.token, 3);
    assert.deepEqual(
      (await b.leases.list()).map((l) => [l.name, l.holder, l.token]),
      [[LEASE, "replica-a", 3]],
    );
    assert.deepEqual(await a.verify(), { ok: true, checked: 2, lastSeq: 2 });
  });

  it("should refuse a commit under an expired lease even when nobody took it over", async () => {
    const a = await replica();
    const lease = await a.leases.acquire("sink:webhook", "replica-a", TTL);
    await expire("sink:webhook");
    const before = await a.lastSeq();
    await assert.rejects(a.commit(fenced(lease!, "late")), isConflict);
    await assert.rejects(a.commit(fenced({ ...lease!, name: "sink:unknown" }, "late")), isConflict);
    assert.equal(await a.lastSeq(), before);
  });

  it("should move a sink's cursor only under its current lease", async () => {
    const [a, b] = [await replica(), await replica()];
    const old = await a.leases.acquire("sink:audit", "replica-a", TTL);
    await a.advanceConsumer("sink:audit", 3, [], [{ lease: "sink:audit", token: old!.token }]);
    await expire("sink:audit");
    const current = await b.leases.acquire("sink:audit", "replica-b", TTL);
    await b.advanceConsumer("sink:audit", 9, [], [{ lease: "sink:audit", token: current!.token }]);
    // The stalled old holder wakes up and would move the cursor back, with a dead letter.
    const letter = { consumer: "sink:audit", seq: 4, error: "late", attempts: 1 };
    await assert.rejects(
      a.advanceConsumer("sink:audit", 4, [letter], [{ lease: "sink:audit", token: old!.token }]),
      isConflict,
    );
    assert.equal(await a.getConsumerCursor("sink:audit"), 9);
    assert.deepEqual(await a.listDeadLetters({ consumer: "sink:audit" }), []);
  });

  it("should let exactly one of two replicas asking at once take a free lease", async () => {
    const [a, b] = [await replica(), await replica()];
    const got = await Promise.all([
      a.leases.acquire("source:race", "replica-a", TTL),
      b.leases.acquire("source:race", "replica-b", TTL),
    ]);
    assert.equal(got.filter((l) => l !== undefined).length, 1);
  });
});
