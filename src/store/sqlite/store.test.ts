import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import Database from "better-sqlite3";
import { tempDir } from "../../../test/helpers.js";
import { chainHash } from "../../core/hash-chain.js";
import { CrwatchError } from "../../model/errors.js";
import {
  batchOf,
  type RawSql,
  realHistory,
  resourceChange,
  routeRef,
  storeContract,
} from "../contract.js";
import type { Store, VerifyResult } from "../store.js";
import { LATEST_VERSION } from "./migrations.js";
import { openSqliteStore } from "./store.js";

storeContract("sqlite", async () => {
  const dir = await tempDir();
  const store = await openSqliteStore({ dir: dir.path });
  return { store, cleanup: dir.cleanup, raw: rawSql(join(dir.path, "crwatch.db")) };
});

/** The contract's raw SQL on a second connection; `$n` parameters (in order) become `?`. */
function rawSql(path: string): RawSql {
  return async (sql, params = []) => {
    const db = new Database(path);
    try {
      const stmt = db.prepare(sql.replace(/\$\d+/g, "?"));
      if (stmt.reader) return stmt.all(...params) as Record<string, unknown>[];
      stmt.run(...params);
      return [];
    } finally {
      db.close();
    }
  };
}

let dir: { path: string; cleanup: () => Promise<void> };

/** Each test of the sqlite-only suites gets its own directory. */
function useDir(): void {
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.cleanup();
  });
}

const dbPath = () => join(dir.path, "crwatch.db");

/** Five changes, one commit each, in a closed store ready to be tampered with. */
async function seedLog(count = 5): Promise<void> {
  const store = await openSqliteStore({ dir: dir.path });
  for (let i = 1; i <= count; i++) {
    await store.commit(batchOf([resourceChange("ADDED", routeRef(`r${i}`), 1)]));
  }
  await store.close();
}

/** Edits the file through a second connection, as someone with file access could. */
function tamper(edit: (db: Database.Database) => void): void {
  const db = new Database(dbPath());
  // better-sqlite3 turns foreign keys on by default; whoever tampers turns them off.
  db.pragma("foreign_keys = OFF");
  try {
    edit(db);
  } finally {
    db.close();
  }
}

async function withStore<T>(use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openSqliteStore({ dir: dir.path });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

const verifyNow = () => withStore((store) => store.verify());

function assertBadAt(result: VerifyResult, seq: number, reason: RegExp): void {
  assert.equal(result.ok, false, "verify should fail");
  if (result.ok) return;
  assert.equal(result.firstBadSeq, seq);
  assert.equal(result.checked, seq - 1);
  assert.match(result.reason, reason);
}

describe("sqlite store: verify catches tampering", () => {
  useDir();

  it("should report the seq of a row whose summary was edited", async () => {
    await seedLog();
    tamper((db) =>
      db.prepare(`UPDATE changes SET summary = '["nothing to see"]' WHERE seq = 3`).run(),
    );
    assertBadAt(await verifyNow(), 3, /edited/);
  });

  it("should report the next row when an edited row's own hash was recomputed", async () => {
    await seedLog();
    tamper((db) => {
      db.prepare(`UPDATE changes SET summary = '["nothing to see"]' WHERE seq = 3`).run();
      rehash(db, 3);
    });
    assertBadAt(await verifyNow(), 4, /does not link/);
  });

  it("should report a deleted middle row", async () => {
    await seedLog();
    tamper((db) => db.prepare("DELETE FROM changes WHERE seq = 3").run());
    assertBadAt(await verifyNow(), 3, /expected seq 3 but found seq 4/);
  });

  it("should report two rows whose contents were swapped", async () => {
    await seedLog();
    tamper(swapRows(2, 4));
    assertBadAt(await verifyNow(), 2, /link|edited/);
  });

  it("should report a deleted last row that chain_head still names", async () => {
    await seedLog();
    tamper((db) => db.prepare("DELETE FROM changes WHERE seq = 5").run());
    assertBadAt(await verifyNow(), 5, /tail was deleted/);
  });

  it("should report rows appended behind chain_head's back", async () => {
    await seedLog();
    tamper((db) => db.prepare("UPDATE chain_head SET last_seq = 4").run());
    assertBadAt(await verifyNow(), 5, /chain_head records seq 4/);
  });

  it("should report a snapshot whose object was edited (a forged 'before')", async () => {
    await seedLog();
    tamper((db) =>
      db
        .prepare("UPDATE snapshots SET object = ? WHERE seq = 3")
        .run('{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","spec":{}}'),
    );
    const result = await verifyNow();
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.firstBadSeq === 3);
    assert.match(
      !result.ok ? result.reason : "",
      /revision 1 of HTTPRoute shop\/r3 \(seq 3\).*edited/,
    );
  });

  it("should report a content hash rewritten to match an edited snapshot as an edited row", async () => {
    await seedLog();
    const forged = '{"kind":"HTTPRoute"}';
    tamper((db) => {
      db.prepare("UPDATE snapshots SET object = ? WHERE seq = 2").run(forged);
      db.prepare("UPDATE changes SET content_hash = ? WHERE seq = 2").run(
        createHash("sha256").update(forged).digest("hex"),
      );
    });
    assertBadAt(await verifyNow(), 2, /seq 2 does not match its hash/);
  });

  it("should report a deleted snapshot", async () => {
    await seedLog();
    tamper((db) => db.prepare("DELETE FROM snapshots WHERE seq = 4").run());
    const result = await verifyNow();
    assert.match(!result.ok ? result.reason : "", /seq 4\): no snapshot to rebuild it from/);
  });

  it("should report a renamed ref as edited rows", async () => {
    await seedLog();
    tamper((db) => db.prepare("UPDATE refs SET name = 'other' WHERE name = 'r2'").run());
    assertBadAt(await verifyNow(), 2, /seq 2 does not match its hash/);
  });
});

/** What a forger without a key can do: recompute one row's hash from its columns. */
function rehash(db: Database.Database, seq: number): void {
  const row = db
    .prepare(
      `SELECT ${CHAIN_COLUMNS}, c.prev_hash FROM changes c JOIN refs r ON r.id = c.ref_id
       WHERE c.seq = ?`,
    )
    .raw()
    .get(seq);
  const values = row as (string | number | null)[];
  const prevHash = values.pop() as string;
  db.prepare("UPDATE changes SET hash = ? WHERE seq = ?").run(chainHash(prevHash, values), seq);
}

/** The hashed columns in the order chainHash sees them (the chain's format). */
const CHAIN_COLUMNS =
  "c.seq, c.type, r.source, r.grp, r.kind, r.namespace, r.name, c.revision, c.prev_revision, " +
  "c.actor, c.cause, c.location, c.observed_at, c.committed_at, c.patch, c.summary, " +
  "c.findings, c.notice, c.content_hash";

/** Swaps every column but seq, so the rows stay in place and keep valid-looking hashes. */
function swapRows(a: number, b: number): (db: Database.Database) => void {
  return (db) => {
    const columns = (
      db.prepare("SELECT name FROM pragma_table_info('changes')").all() as {
        name: string;
      }[]
    )
      .map((c) => c.name)
      .filter((c) => c !== "seq");
    const read = db.prepare("SELECT * FROM changes WHERE seq = ?");
    const rowA = read.get(a) as Record<string, unknown>;
    const rowB = read.get(b) as Record<string, unknown>;
    const set = columns.map((c) => `${c} = @${c}`).join(", ");
    const write = db.prepare(`UPDATE changes SET ${set} WHERE seq = @seq`);
    db.transaction(() => {
      write.run({ ...rowB, seq: a });
      write.run({ ...rowA, seq: b });
    })();
  };
}

describe("sqlite store: files and schema", () => {
  useDir();

  it("should keep the data on reopen and continue the sequence", async () => {
    await withStore((store) =>
      store.commit(
        batchOf([resourceChange("ADDED", routeRef("a"), 1)], {
          cursors: [{ source: "local", stream: "default", cursor: "c1" }],
        }),
      ),
    );
    await withStore(async (store) => {
      assert.equal(await store.lastSeq(), 1);
      assert.deepEqual(await store.getSourceCursors("local"), { default: "c1" });
      const [next] = await store.commit(batchOf([resourceChange("MODIFIED", routeRef("a"), 2)]));
      assert.equal(next?.seq, 2);
      assert.equal(next?.prevHash, (await store.getChange(1))?.hash);
      assert.deepEqual(await store.verify(), { ok: true, checked: 2, lastSeq: 2 });
    });
  });

  it("should refuse a database from a newer schema version with CRW_STORE_MIGRATION", async () => {
    await withStore(async () => undefined);
    tamper((db) =>
      db
        .prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
        .run(LATEST_VERSION + 1, "from the future", new Date().toISOString()),
    );
    await assert.rejects(openSqliteStore({ dir: dir.path }), isCode("CRW_STORE_MIGRATION"));
  });

  it("should record the applied migrations and not apply them twice", async () => {
    await withStore(async () => undefined);
    await withStore(async () => undefined);
    tamper((db) => {
      const rows = db.prepare("SELECT version FROM schema_migrations ORDER BY version").all();
      assert.deepEqual(
        rows,
        Array.from({ length: LATEST_VERSION }, (_, i) => ({ version: i + 1 })),
      );
    });
  });

  it("should create the directory and use WAL with the given file name", async () => {
    const nested = join(dir.path, "a", "b");
    const store = await openSqliteStore({ dir: nested, fileName: "log.sqlite" });
    await store.close();
    const db = new Database(join(nested, "log.sqlite"), { readonly: true });
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    db.close();
  });

  it("should fail with CRW_STORE_OPEN when the directory cannot be created", async () => {
    const file = join(dir.path, "plain-file");
    await writeFile(file, "not a directory");
    await assert.rejects(openSqliteStore({ dir: join(file, "sub") }), isCode("CRW_STORE_OPEN"));
  });

  it("should fold non-ASCII case in refContains as formatRef readers expect", async () => {
    await withStore(async (store) => {
      await store.commit(batchOf([resourceChange("ADDED", routeRef("Ärger-Straße"), 1)]));
      const found = await store.readChanges({ refContains: "ÄRGER-st" });
      assert.equal(found.length, 1);
    });
  });

  it("should keep a full object every snapshotEvery revisions, and read them all back", async () => {
    const ref = routeRef("k");
    const { changes, objects } = realHistory(ref, 12);
    const store = await openSqliteStore({ dir: dir.path, snapshotEvery: 5 });
    try {
      await store.commit(batchOf(changes));
      const seqs = (await rawSql(dbPath())("SELECT seq FROM snapshots ORDER BY seq")).map(
        (r) => r.seq,
      );
      assert.deepEqual(seqs, [1, 6, 11]);
      assert.deepEqual(
        (await store.listRevisions(ref)).map((r) => r.object),
        objects,
      );
      assert.deepEqual((await store.getRevision(ref, 10))?.object, objects[9]);
    } finally {
      await store.close();
    }
  });

  it("should close twice without error", async () => {
    const store = await openSqliteStore({ dir: dir.path });
    await store.close();
    await store.close();
  });
});

function isCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof CrwatchError && err.code === code;
}
