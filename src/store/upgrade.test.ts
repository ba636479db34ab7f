import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { postgresUrl, tempDir } from "../../test/helpers.js";
import { dropSchema, pgQuery, uniqueSchema } from "../../test/postgres.js";
import { GENESIS_HASH } from "../core/hash-chain.js";
import { sha256Hex } from "../core/stable-json.js";
import type { Change, NewChange, Revision } from "../model/change.js";
import { type Ref, refKey } from "../model/ref.js";
import { planCommit } from "./commit-plan.js";
import { batchOf, noticeChange, realHistory, resourceChange, routeRef } from "./contract.js";
import { copyHistory } from "./copy.js";
import { CHAIN_COLUMNS, type ChangeRow, REF_COLUMNS } from "./log-format.js";
import { migratePostgres, PG_MIGRATIONS } from "./postgres/migrations.js";
import { createPool, openPostgresStore } from "./postgres/store.js";
import { MIGRATIONS, migrate } from "./sqlite/migrations.js";
import { openSqliteStore } from "./sqlite/store.js";
import type { Store } from "./store.js";

/**
 * A history as the code before migration 5 stored it (schema version 4): every change with
 * its five ref columns, a full object per revision in `revisions`, a `heads` row per ref.
 * Rows are made by the same planning code (seqs and chain hashes do not depend on the row
 * format), then written with plain INSERTs into the version-4 tables.
 */
interface V4History {
  changes: ChangeRow[];
  revisions: Record<string, unknown>[];
  heads: Record<string, unknown>[];
  problems: Record<string, unknown>[];
  head: { lastSeq: number; lastHash: string };
  /** What the store must give back after the upgrade. */
  committed: Change[];
  expected: Map<string, { ref: Ref; revisions: Revision[] }>;
}

const long = routeRef("long");
const odd = routeRef("odd", { source: "cluster", namespace: "edge" });

/** Batches of resource changes and notices: real patches, plus patches that rebuild nothing. */
function batches(): NewChange[][] {
  const { changes } = realHistory(long, 45);
  // A client whose patches say nothing true about the objects: no snapshot may be dropped.
  const bogus = [1, 2, 3].map((revision) =>
    resourceChange(revision === 1 ? "ADDED" : "MODIFIED", odd, revision, {
      patch: [{ op: "add", path: "/nothing", value: revision }],
    }),
  );
  const problem = noticeChange("ERROR", "local", {
    location: { path: "bad.yaml", line: 2 },
    fingerprint: "fp1",
  });
  return [
    changes.slice(0, 10),
    [...bogus, problem],
    changes.slice(10, 30),
    [noticeChange("GAP", "cluster")],
    changes.slice(30),
  ];
}

function v4History(): V4History {
  const out: V4History = {
    changes: [],
    revisions: [],
    heads: [],
    problems: [],
    head: { lastSeq: 0, lastHash: GENESIS_HASH },
    committed: [],
    expected: new Map(),
  };
  const heads = new Map<string, Record<string, unknown>>();
  for (const batch of batches()) {
    const plan = planCommit(batchOf(batch), out.head, new Date().toISOString(), {
      snapshotEvery: 16,
      heads: new Map(),
    });
    out.head = plan.head;
    out.committed.push(...plan.committed);
    out.problems.push(...plan.problems.map((p) => ({ ...p })));
    plan.changes.forEach((row, i) => {
      out.changes.push(row);
      const change = batch[i] as NewChange;
      if (change.revision === null) return;
      const ref = {
        source: row.source,
        grp: row.grp,
        kind: row.kind,
        namespace: row.namespace,
        name: row.name,
      };
      const object = change.object === null ? null : JSON.stringify(change.object);
      const revision = change.revision;
      out.revisions.push({
        ...ref,
        revision,
        seq: row.seq,
        object,
        content_hash: row.content_hash,
        location: row.location,
      });
      heads.set(refKey(change.ref), {
        ...ref,
        revision,
        content_hash: row.content_hash,
        deleted: change.type === "DELETED" ? 1 : 0,
        location: row.location,
      });
      const key = refKey(change.ref);
      const entry = out.expected.get(key) ?? { ref: change.ref, revisions: [] };
      entry.revisions.push({
        ref: change.ref,
        revision,
        seq: row.seq,
        object: change.object,
        contentHash: change.contentHash,
        location: change.location,
      });
      out.expected.set(key, entry);
    });
  }
  out.heads = [...heads.values()];
  return out;
}

const CHANGE_COLUMNS = [...CHAIN_COLUMNS, "prev_hash", "hash"];
const REVISION_COLUMNS = [...REF_COLUMNS, "revision", "seq", "object", "content_hash", "location"];
const HEAD_COLUMNS = [...REF_COLUMNS, "revision", "content_hash", "deleted", "location"];
const PROBLEM_COLUMNS = ["source", "location", "fingerprint", "seq"];

const TABLES: [string, string[], keyof V4History][] = [
  ["changes", CHANGE_COLUMNS, "changes"],
  ["revisions", REVISION_COLUMNS, "revisions"],
  ["heads", HEAD_COLUMNS, "heads"],
  ["source_problems", PROBLEM_COLUMNS, "problems"],
];

/** Everything the upgraded store must show, read through the interface. */
async function assertUpgraded(store: Store, history: V4History): Promise<void> {
  assert.deepEqual(await store.verify(), {
    ok: true,
    checked: history.changes.length,
    lastSeq: history.head.lastSeq,
  });
  assert.deepEqual(await store.readChanges({}), history.committed);
  for (const { ref, revisions } of history.expected.values()) {
    assert.deepEqual(await store.listRevisions(ref), revisions);
    for (const revision of [...revisions].reverse())
      assert.deepEqual(await store.getRevision(ref, revision.revision), revision);
  }
  const [longHead] = await store.loadHeads("local");
  assert.deepEqual([longHead?.ref, longHead?.revision, longHead?.deleted], [long, 45, false]);
  const [oddHead] = await store.loadHeads("cluster");
  assert.deepEqual([oddHead?.ref, oddHead?.revision], [odd, 3]);
  assert.deepEqual(await store.openProblems("local"), [
    { location: "bad.yaml", fingerprint: "fp1", seq: 14 },
  ]);
  // The upgraded history goes on: the next change links to the last old one, and its
  // revision (no snapshot due) is rebuilt from odd's revision 3 by its patch.
  const [next] = await store.commit(batchOf([resourceChange("MODIFIED", odd, 4)]));
  assert.equal(next?.prevHash, history.committed.at(-1)?.hash);
  assert.equal((await store.verify()).ok, true);
  assert.deepEqual(
    (await store.getRevision(odd))?.object,
    resourceChange("MODIFIED", odd, 4).object,
  );
}

/**
 * 45 + 3 revisions were full objects; the upgrade keeps those the rule or a bad patch needs.
 * Seqs: long's revisions 1-10 are seqs 1-10, odd's 1-3 are 11-13, the ERROR 14, long's
 * 11-30 are 15-34 (deleted at 20, seq 24), the GAP 35, long's 31-45 are 36-50.
 */
const KEPT_SNAPSHOTS = [
  1, // long 1
  11, // odd 1, 2, 3: their patches rebuild nothing
  12,
  13,
  21, // long 17
  25, // long 21, re-added after the deletion
  38, // long 33
];

describe("upgrade of a version-4 history to the slim log (migration 5)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it("should upgrade a SQLite data directory at open, verify it and read every revision back", async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const history = v4History();
    const db = new Database(join(dir.path, "crwatch.db"));
    migrate(
      db,
      MIGRATIONS.filter((m) => m.version <= 4),
    );
    db.transaction(() => {
      for (const [table, columns, key] of TABLES) {
        const insert = db.prepare(
          `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`,
        );
        for (const row of history[key] as Record<string, unknown>[]) insert.run(row);
      }
      db.prepare("UPDATE chain_head SET last_seq = ?, last_hash = ?").run(
        history.head.lastSeq,
        history.head.lastHash,
      );
    })();
    db.close();

    const store = await openSqliteStore({ dir: dir.path });
    cleanups.push(() => store.close());
    const raw = new Database(join(dir.path, "crwatch.db"), { readonly: true });
    const tables = raw
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => (r as { name: string }).name);
    const seqs = raw.prepare("SELECT seq FROM snapshots ORDER BY seq").all();
    raw.close();
    assert.ok(!tables.includes("revisions") && !tables.includes("heads"), tables.join());
    assert.deepEqual(
      seqs.map((r) => (r as { seq: number }).seq),
      KEPT_SNAPSHOTS,
    );
    await assertUpgraded(store, history);

    // And the upgraded directory still copies to PostgreSQL and verifies there.
    const schema = uniqueSchema("upgrade_copy");
    const target = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
    cleanups.push(async () => {
      await target.close();
      await dropSchema(schema);
    });
    const report = await copyHistory(store, target);
    assert.equal(report.verify.ok, true);
    for (const { ref, revisions } of history.expected.values())
      assert.deepEqual((await target.listRevisions(ref)).slice(0, revisions.length), revisions);
  });

  it("should upgrade a PostgreSQL schema when a writer opens it, verify it and read every revision back", async () => {
    const schema = uniqueSchema("upgrade");
    const history = v4History();
    const pool = createPool(postgresUrl, 1);
    const client = await pool.connect();
    try {
      await migratePostgres(
        client,
        schema,
        PG_MIGRATIONS.filter((m) => m.version <= 4),
      );
      for (const [table, columns, key] of TABLES) {
        for (const row of history[key] as Record<string, unknown>[]) {
          await client.query(
            `INSERT INTO "${schema}".${table} (${columns.join(", ")})
             VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`,
            columns.map((c) => row[c]),
          );
        }
      }
      await client.query(`UPDATE "${schema}".chain_head SET last_seq = $1, last_hash = $2`, [
        history.head.lastSeq,
        history.head.lastHash,
      ]);
    } finally {
      client.release();
      await pool.end();
    }
    const store = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
    cleanups.push(async () => {
      await store.close();
      await dropSchema(schema);
    });
    const seqs = await pgQuery<{ seq: number }>(
      `SELECT seq::int AS seq FROM "${schema}".snapshots ORDER BY seq`,
    );
    assert.deepEqual(
      seqs.map((r) => r.seq),
      KEPT_SNAPSHOTS,
    );
    await assertUpgraded(store, history);
  });

  it("should keep a snapshot that was edited before the upgrade, so verify still reports it", async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const history = v4History();
    // Revision 5 of `long` (seq 5) was forged in the old table.
    const forged = history.revisions.find((r) => r.seq === 5) as Record<string, unknown>;
    forged.object = '{"kind":"HTTPRoute","spec":{"hostnames":["evil.example"]}}';
    const db = new Database(join(dir.path, "crwatch.db"));
    migrate(
      db,
      MIGRATIONS.filter((m) => m.version <= 4),
    );
    for (const [table, columns, key] of TABLES) {
      const insert = db.prepare(
        `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`,
      );
      for (const row of history[key] as Record<string, unknown>[]) insert.run(row);
    }
    db.prepare("UPDATE chain_head SET last_seq = ?, last_hash = ?").run(
      history.head.lastSeq,
      history.head.lastHash,
    );
    db.close();
    const store = await openSqliteStore({ dir: dir.path });
    cleanups.push(() => store.close());
    const result = await store.verify();
    assert.ok(!result.ok);
    assert.equal(result.firstBadSeq, 5);
    assert.match(result.reason, /snapshot does not match its committed content hash/);
  });
});

describe("upgrade of a version-5 store to re-masked heads (migration 6)", () => {
  const ref = routeRef("rotated");
  const masked = (mask: string) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    data: { password: `<masked:${mask}>` },
  });
  const { changes } = realHistory(routeRef("plain"), 5);
  const secret = resourceChange("ADDED", ref, 1, {
    object: masked("aaaaaaaaaaaaaaaa"),
    contentHash: sha256Hex(JSON.stringify(masked("aaaaaaaaaaaaaaaa"))),
  });
  const remask = {
    ref,
    revision: 1,
    objectJson: JSON.stringify(masked("bbbbbbbbbbbbbbbb")),
    contentHash: sha256Hex(JSON.stringify(masked("bbbbbbbbbbbbbbbb"))),
  };

  /** After the upgrade: the old history verifies, and a re-mask is taken and read back. */
  async function assertTakesRemasks(store: Store): Promise<void> {
    assert.deepEqual(await store.verify(), { ok: true, checked: 6, lastSeq: 6 });
    await store.commit(batchOf([], { remasks: [remask] }));
    assert.deepEqual((await store.getRevision(ref))?.object, masked("bbbbbbbbbbbbbbbb"));
    assert.deepEqual(await store.verify(), { ok: true, checked: 6, lastSeq: 6 });
  }

  it("should add the remasks table to a SQLite store at open", async () => {
    const dir = await tempDir();
    try {
      const first = await openSqliteStore({ dir: dir.path });
      await first.commit(batchOf([...changes, secret]));
      await first.close();
      // Migration 6 only adds a table: without it (and its record) the store is version 5.
      const db = new Database(join(dir.path, "crwatch.db"));
      db.exec("DROP TABLE remasks; DELETE FROM schema_migrations WHERE version = 6");
      db.close();
      const store = await openSqliteStore({ dir: dir.path });
      try {
        await assertTakesRemasks(store);
      } finally {
        await store.close();
      }
    } finally {
      await dir.cleanup();
    }
  });

  it("should add the remasks table to a PostgreSQL schema when a writer opens it", async () => {
    const schema = uniqueSchema("upgrade6");
    try {
      const first = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
      await first.commit(batchOf([...changes, secret]));
      await first.close();
      await pgQuery(
        `DROP TABLE "${schema}".remasks; DELETE FROM "${schema}".schema_migrations WHERE version = 6`,
      );
      const store = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
      try {
        await assertTakesRemasks(store);
      } finally {
        await store.close();
      }
    } finally {
      await dropSchema(schema);
    }
  });
});
