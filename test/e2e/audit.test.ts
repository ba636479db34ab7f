import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cp, mkdir, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import Database from "better-sqlite3";
import { tempDir } from "../helpers.js";
import { cli, serve, stop, waitUntilWatching } from "./process.js";

const route = (name: string, weight: number) =>
  `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: ${name}\n  namespace: shop\nspec:\n  rules:\n    - backendRefs: [{name: v1, weight: ${weight}}]\n`;

/** Names and contents of every file in a directory: what "left untouched" means. */
async function snapshotDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  // Recursive: sources keep work dirs under the data directory (sources/<name>/).
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path] = createHash("sha256")
      .update(await readFile(path))
      .digest("hex");
  }
  return Object.fromEntries(Object.entries(out).sort());
}

describe("the audit trail notices loss and damage", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let data: string;
  let watched: string;

  beforeEach(async () => {
    tmp = await tempDir("crwatch-audit-");
    data = join(tmp.path, "data");
    watched = join(tmp.path, "watched");
    await mkdir(watched);
    await writeFile(join(watched, "a.yaml"), route("a", 10));
  });
  afterEach(async () => tmp.cleanup());

  async function runOnce(env: NodeJS.ProcessEnv = {}): Promise<void> {
    const served = serve(["--watch", watched, "--data-dir", data], undefined, env);
    await waitUntilWatching(served);
    assert.equal((await stop(served)).code, 0, served.stderr());
  }

  it("should refuse to serve, and fail verify, when the database was replaced by an older copy", async () => {
    await runOnce();
    const old = join(tmp.path, "old");
    await cp(data, old, { recursive: true });
    await writeFile(join(watched, "b.yaml"), route("b", 20));
    await runOnce();
    // Someone restores the old database (or wipes rows): the checkpoint beside it disagrees.
    await cp(join(old, "crwatch.db"), join(data, "crwatch.db"));
    const verify = cli(["verify", "--data-dir", data]);
    assert.equal(verify.status, 1);
    assert.match(
      verify.stdout,
      /CRW_STORE_TRUNCATED: the log ends at seq \d+ but a checkpoint .* recorded seq \d+/,
    );
    const served = serve(["--watch", watched, "--data-dir", data]);
    const exit = await served.exited;
    assert.equal(exit.code, 2);
    assert.match(served.stderr(), /CRW_STORE_TRUNCATED/);
  });

  it("should check a history against a checkpoint exported elsewhere", async () => {
    await runOnce();
    const exported = join(tmp.path, "checkpoint.json");
    const first = cli(["verify", "--data-dir", data, "--export-checkpoint", exported]);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(cli(["verify", "--data-dir", data, "--checkpoint", exported]).status, 0);
    // Wiping the database and its checkpoint together is caught by the exported one.
    await rm(join(data, "crwatch.db"));
    await rm(join(data, "chain.checkpoint"));
    await runOnce();
    const r = cli(["verify", "--data-dir", data, "--checkpoint", exported]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /CRW_STORE_TRUNCATED: seq 1 no longer has the hash/);
  });

  it("should report a damaged database file with CRW_STORE_CORRUPT", async () => {
    for (let i = 0; i < 30; i++) await writeFile(join(watched, `r${i}.yaml`), route(`r${i}`, i));
    await runOnce();
    const file = await open(join(data, "crwatch.db"), "r+");
    const { size } = await file.stat();
    // Garbage over every page but the first, as a failing disk would leave it.
    const pageSize = 16384;
    for (let at = pageSize + 100; at + 4096 < size; at += pageSize) {
      await file.write(Buffer.alloc(4096, 0xa5), 0, 4096, at);
    }
    await file.close();
    const r = cli(["verify", "--data-dir", data]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /CRW_STORE_CORRUPT/);
  });

  it("should refuse to start with a mask key other than the one the store was written with", async () => {
    await runOnce({ CRWATCH_MASK_KEY: "first-key-0123456789abcdef" });
    const served = serve(["--watch", watched, "--data-dir", data], undefined, {
      CRWATCH_MASK_KEY: "other-key-0123456789abcdef",
    });
    const exit = await served.exited;
    assert.equal(exit.code, 2);
    assert.match(
      served.stderr(),
      /CRW_MASK_KEY_MISMATCH: the mask key \(fingerprint [0-9a-f]{16}\)/,
    );
    await runOnce({ CRWATCH_MASK_KEY: "first-key-0123456789abcdef" }); // the right key still works
  });

  it("should leave an archived copy untouched when read commands read it", async () => {
    await runOnce();
    const archive = join(tmp.path, "archive");
    await cp(data, archive, { recursive: true });
    const before = await snapshotDir(archive);
    for (const args of [["history"], ["show", "1"], ["status"], ["verify"]]) {
      const r = cli([...args, "--data-dir", archive]);
      assert.equal(r.status, 0, `${args[0]}: ${r.stderr}`);
    }
    assert.deepEqual(await snapshotDir(archive), before);
  });

  it("should not create a schema in a SQLite file that is not a crwatch store", async () => {
    await mkdir(data);
    const foreign = new Database(join(data, "crwatch.db"));
    foreign.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY)");
    foreign.close();
    const r = cli(["history", "--data-dir", data]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /CRW_STORE_OPEN: .* is not a crwatch store/);
    const db = new Database(join(data, "crwatch.db"), { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    db.close();
    assert.deepEqual(tables, [{ name: "invoices" }]);
  });
});
