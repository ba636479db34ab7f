import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { postgresUrl, repoRoot, waitFor } from "../../../test/helpers.js";
import { dropSchema, pgQuery, uniqueSchema } from "../../../test/postgres.js";
import { batchOf, resourceChange, routeRef } from "../contract.js";
import { openPostgresStore } from "./store.js";

const WRITER = join(repoRoot, "dist", "test", "e2e", "replica-writer.js");

interface Writer {
  child: ChildProcess;
  stdout: () => string;
  exited: Promise<number | null>;
}

function writer(
  schema: string,
  holder: string,
  ttlMs: number,
  count: number,
  wait = false,
): Writer {
  const args = [WRITER, "writer", schema, holder, String(ttlMs), String(count)];
  const child = spawn(process.execPath, wait ? [...args, "wait"] : args, {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stdout: () => out, exited };
}

describe("postgres replicas as processes: failover and split brain", () => {
  const schemas: string[] = [];
  after(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });

  async function freshSchema(label: string): Promise<string> {
    const schema = uniqueSchema(label);
    schemas.push(schema);
    await (await openPostgresStore({ url: postgresUrl, schema, mode: "write" })).close();
    return schema;
  }

  it("should let a second writer take over from the stored cursor after kill -9, with every item once", async () => {
    const schema = await freshSchema("failover");
    const count = 120;
    const first = writer(schema, "replica-a", 1_000, count);
    await waitFor(() => /committed 40\n/.test(first.stdout()), 20_000, "a burst under way");
    first.child.kill("SIGKILL");
    await first.exited;
    // The second replica waits for the lease to lapse (its TTL), then goes on from the cursor.
    const second = writer(schema, "replica-b", 1_000, count);
    assert.equal(await second.exited, 0);
    assert.match(second.stdout(), /^leader 2$/m);

    const store = await openPostgresStore({ url: postgresUrl, schema, mode: "read" });
    try {
      const names = (await store.readChanges({ limit: 10_000 })).map((c) => c.ref.name);
      assert.deepEqual(
        names,
        Array.from({ length: count }, (_, i) => `item-${i}`),
      );
      assert.deepEqual(await store.verify(), { ok: true, checked: count, lastSeq: count });
      assert.deepEqual(await store.getSourceCursors("burst"), { default: String(count) });
    } finally {
      await store.close();
    }
  });

  it("should refuse the commit of a paused owner (SIGSTOP) whose lease expired, when it resumes", async () => {
    const schema = await freshSchema("splitbrain");
    const paused = writer(schema, "replica-a", 60_000, 1, true);
    await waitFor(() => paused.stdout().includes("ready\n"), 20_000, "the owner holds the lease");
    paused.child.kill("SIGSTOP");
    // While it is stopped, its lease runs out (moved by hand: no test waits on a clock) and
    // another replica takes over and commits.
    await pgQuery(`UPDATE "${schema}".leases SET expires_at = now() - interval '1 second'`);
    const store = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
    try {
      const lease = await store.leases.acquire("source:burst", "replica-b", 60_000);
      assert.equal(lease?.token, 2);
      await store.commit(
        batchOf([resourceChange("ADDED", routeRef("by-b", { source: "burst" }), 1)], {
          fences: [{ lease: "source:burst", token: 2 }],
        }),
      );
      paused.child.kill("SIGCONT");
      paused.child.stdin?.write("go\n");
      assert.equal(await paused.exited, 3);
      assert.match(paused.stdout(), /fenced CRW_STORE_CONFLICT/);
      assert.deepEqual(
        (await store.readChanges({})).map((c) => c.ref.name),
        ["by-b"],
      );
      assert.equal((await store.verify()).ok, true);
    } finally {
      await store.close();
    }
  });
});
