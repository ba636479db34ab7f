import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { cli } from "../../test/e2e/process.js";
import { postgresUrl, tempDir } from "../../test/helpers.js";
import { dropSchema, uniqueSchema } from "../../test/postgres.js";
import { batchOf, noticeChange, resourceChange, routeRef } from "../store/contract.js";
import { openSqliteStore } from "../store/sqlite/store.js";

describe("crwatch migrate", () => {
  const schema = uniqueSchema("cli");
  const target = `${postgresUrl}?schema=${schema}`;
  const dirs: { cleanup: () => Promise<void> }[] = [];
  after(async () => {
    await dropSchema(schema);
    for (const dir of dirs) await dir.cleanup();
  });

  async function sqliteHistory(): Promise<string> {
    const dir = await tempDir();
    dirs.push(dir);
    const store = await openSqliteStore({ dir: dir.path });
    await store.commit(
      batchOf([resourceChange("ADDED", routeRef("a"), 1), noticeChange("GAP", "local")], {
        cursors: [{ source: "local", stream: "default", cursor: "c1" }],
      }),
    );
    await store.advanceConsumer("hook", 2, [{ consumer: "hook", seq: 2, error: "e", attempts: 1 }]);
    await store.close();
    return dir.path;
  }

  it("should copy a SQLite history to PostgreSQL, verify it, and let read commands use it", async () => {
    const dir = await sqliteHistory();
    const run = cli(["migrate", "--from", `sqlite:${dir}`, "--to", `postgres:${target}`]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^changes: 2 row\(s\)$/m);
    assert.match(run.stdout, /^dead_letters: 1 row\(s\)$/m);
    assert.match(run.stdout, /verified: 2 changes, chain intact up to seq 2/);
    const verify = cli(["verify", "--data-dir", target]);
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /ok: 2 changes/);
    const status = cli(["status", "--data-dir", target, "--output", "json"]);
    assert.equal(JSON.parse(status.stdout).lastSeq, 2);
    // A second run finds the schema taken and says so.
    const again = cli(["migrate", "--from", `sqlite:${dir}`, "--to", target]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /CRW_STORE_MIGRATION: .*already holds a history/);
  });

  it("should refuse a copy in the wrong direction with CRW_USAGE", () => {
    const run = cli(["migrate", "--from", target, "--to", "sqlite:/tmp/x"]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /CRW_USAGE/);
  });

  it("should say when the source directory holds no history", async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const run = cli(["migrate", "--from", `sqlite:${dir.path}`, "--to", target]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /CRW_STORE_OPEN: no crwatch history/);
  });

  it("should not print the password of a URL it cannot reach", () => {
    const run = cli(["verify", "--data-dir", "postgres://u:hunter2@127.0.0.1:1/test"]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /CRW_STORE_OPEN/);
    assert.doesNotMatch(run.stderr, /hunter2/);
  });
});
