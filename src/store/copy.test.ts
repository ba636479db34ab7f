import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { postgresUrl, tempDir } from "../../test/helpers.js";
import { dropSchema, pgQuery, uniqueSchema } from "../../test/postgres.js";
import { sha256Hex } from "../core/stable-json.js";
import type { CrwatchError } from "../model/errors.js";
import { batchOf, noticeChange, resourceChange, routeRef } from "./contract.js";
import { COPIED_TABLES, copyHistory } from "./copy.js";
import { openPostgresStore, type PostgresStore } from "./postgres/store.js";
import { openSqliteStore, type SqliteStore } from "./sqlite/store.js";
import type { Store } from "./store.js";

const isCode = (code: string) => (err: unknown) => (err as CrwatchError).code === code;

/** A history with every kind of row: resource changes, notices, problems, cursors, letters. */
async function writeHistory(store: Store): Promise<void> {
  const front = routeRef("storefront");
  await store.commit(
    batchOf(
      [
        resourceChange("ADDED", front, 1),
        resourceChange("ADDED", routeRef('ünï/cödé "q"', { namespace: "" }), 1),
        noticeChange("ERROR", "local", { location: { path: "bad.yaml" }, fingerprint: "f1" }),
      ],
      { cursors: [{ source: "local", stream: "default", cursor: "c1" }] },
    ),
  );
  await store.commit(
    batchOf([resourceChange("MODIFIED", front, 2), resourceChange("DELETED", front, 3)], {
      cursors: [{ source: "k8s", stream: "HTTPRoute", cursor: "42" }],
    }),
  );
  await store.commit(batchOf([noticeChange("GAP", "k8s")]));
  // A head re-masked after a mask key rotation (decision 0028) travels with the history.
  const vault = (mask: string) => ({ kind: "ConfigMap", data: { password: `<masked:${mask}>` } });
  const text = (mask: string) => JSON.stringify(vault(mask));
  await store.commit(
    batchOf([
      resourceChange("ADDED", routeRef("vault"), 1, {
        object: vault("aaaaaaaaaaaaaaaa"),
        contentHash: sha256Hex(text("aaaaaaaaaaaaaaaa")),
      }),
    ]),
  );
  const remask = {
    objectJson: text("bbbbbbbbbbbbbbbb"),
    contentHash: sha256Hex(text("bbbbbbbbbbbbbbbb")),
  };
  await store.commit(
    batchOf([], { remasks: [{ ref: routeRef("vault"), revision: 1, ...remask }] }),
  );
  await store.setSourceHealth({ source: "local", status: "ok", message: "", updatedAt: "t" });
  await store.advanceConsumer("hook", 4, [
    { consumer: "hook", seq: 2, error: "HTTP 500", attempts: 3 },
    { consumer: "hook", seq: 4, error: "HTTP 410", attempts: 1 },
  ]);
}

/** What a store holds, read through the interface: two stores holding the same match. */
async function contents(store: Store) {
  const letters = await store.listDeadLetters();
  return {
    changes: await store.readChanges({}),
    revisions: await store.listRevisions(routeRef("storefront")),
    remasked: await store.listRevisions(routeRef("vault")),
    heads: [...(await store.loadHeads("local")), ...(await store.loadHeads("k8s"))],
    cursors: [await store.getSourceCursors("local"), await store.getSourceCursors("k8s")],
    health: await store.listSourceHealth(),
    problems: await store.openProblems("local"),
    consumers: (await store.listConsumerCursors()).map((c) => [c.consumer, c.seq]),
    letters: letters.map(({ createdAt: _c, ...rest }) => rest),
  };
}

describe("history copy between dialects", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function sqlite(): Promise<{ store: SqliteStore; dir: string }> {
    const dir = await tempDir();
    const store = await openSqliteStore({ dir: dir.path });
    cleanups.push(async () => {
      await store.close();
      await dir.cleanup();
    });
    return { store, dir: dir.path };
  }

  async function postgres(): Promise<{ store: PostgresStore; schema: string }> {
    const schema = uniqueSchema("copy");
    const store = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
    cleanups.push(async () => {
      await store.close();
      await dropSchema(schema);
    });
    return { store, schema };
  }

  it("should verify a SQLite history in PostgreSQL, with every table alike, and go on from it", async () => {
    const { store: from } = await sqlite();
    const { store: to } = await postgres();
    await writeHistory(from);
    const report = await copyHistory(from, to);
    assert.deepEqual(report.verify, { ok: true, checked: 7, lastSeq: 7 });
    assert.equal(report.rows.changes, 7);
    assert.equal(report.rows.remasks, 1);
    const vault = await to.getRevision(routeRef("vault"));
    assert.match(JSON.stringify(vault?.object), /<masked:b{16}>/, "the re-masked head is read");
    assert.equal(report.rows.dead_letters, 2);
    assert.deepEqual(await contents(to), await contents(from));
    // The copy is a live history: PostgreSQL extends the chain SQLite started.
    const [next] = await to.commit(batchOf([resourceChange("ADDED", routeRef("after"), 1)]));
    assert.equal(next?.seq, 8);
    await to.advanceConsumer("hook", 8, [{ consumer: "hook", seq: 8, error: "e", attempts: 1 }]);
    assert.equal((await to.listDeadLetters()).at(-1)?.id, 3);
    assert.deepEqual(await to.verify(), { ok: true, checked: 8, lastSeq: 8 });
  });

  it("should verify a PostgreSQL history in SQLite after a raw copy of its rows", async () => {
    const { store: from } = await postgres();
    const { store: to, dir } = await sqlite();
    await writeHistory(from);
    await to.close();
    const db = new Database(`${dir}/crwatch.db`);
    try {
      for (const table of COPIED_TABLES) {
        if (table.name === "chain_head") db.prepare("DELETE FROM chain_head").run();
        const insert = db.prepare(
          `INSERT INTO ${table.name} (${table.columns.join(", ")})
           VALUES (${table.columns.map((c) => `@${c}`).join(", ")})`,
        );
        for await (const rows of from.exportRows(table)) for (const row of rows) insert.run(row);
      }
    } finally {
      db.close();
    }
    const reopened = await openSqliteStore({ dir });
    cleanups.push(() => reopened.close());
    assert.deepEqual(await reopened.verify(), { ok: true, checked: 7, lastSeq: 7 });
    assert.deepEqual(await contents(reopened), await contents(from));
  });

  it("should refuse to copy into a schema that holds a history, and change nothing", async () => {
    const { store: from } = await sqlite();
    const { store: to } = await postgres();
    await writeHistory(from);
    await to.commit(batchOf([resourceChange("ADDED", routeRef("mine"), 1)]));
    await assert.rejects(copyHistory(from, to), isCode("CRW_STORE_MIGRATION"));
    assert.equal(await to.lastSeq(), 1);
    assert.equal((await to.verify()).ok, true);
  });

  it("should copy nothing from a history that does not verify", async () => {
    const { store: from, dir } = await sqlite();
    const { store: to } = await postgres();
    await writeHistory(from);
    const db = new Database(`${dir}/crwatch.db`);
    db.prepare(`UPDATE changes SET summary = '["forged"]' WHERE seq = 2`).run();
    db.close();
    await assert.rejects(copyHistory(from, to), isCode("CRW_STORE_CHAIN_BROKEN"));
    assert.equal(await to.lastSeq(), 0);
  });

  it("should roll the whole copy back when a row cannot be written", async () => {
    const { store: from, dir } = await sqlite();
    const { store: to, schema } = await postgres();
    await writeHistory(from);
    // A dead letter PostgreSQL cannot hold (text with NUL), after every change went in.
    const db = new Database(`${dir}/crwatch.db`);
    db.prepare("UPDATE dead_letters SET error = 'a' || char(0) || 'b' WHERE id = 2").run();
    db.close();
    await assert.rejects(copyHistory(from, to), isCode("CRW_STORE_MIGRATION"));
    const rows = await pgQuery<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".changes`);
    assert.equal(rows[0]?.n, 0);
  });
});
