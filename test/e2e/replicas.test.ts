import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Change } from "../../src/model/change.js";
import { openPostgresStore } from "../../src/store/postgres/store.js";
import { postgresUrl, tempDir, waitFor } from "../helpers.js";
import { dropSchema, uniqueSchema } from "../postgres.js";
import { cli, type Served, serve, stop, waitUntilWatching } from "./process.js";

const FILES = 120;

function route(i: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r${i}
  namespace: shop
spec:
  hostnames: [r${i}.example.com]
`;
}

async function history(schema: string): Promise<Change[]> {
  const store = await openPostgresStore({ url: postgresUrl, schema, mode: "read" });
  try {
    return await store.readChanges({ limit: 100_000 });
  } finally {
    await store.close();
  }
}

describe("two serve replicas on one PostgreSQL store", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  const schema = uniqueSchema("replicas");
  const target = `${postgresUrl}?schema=${schema}`;
  const running: Served[] = [];
  before(async () => {
    tmp = await tempDir("crwatch-replicas-");
  });
  after(async () => {
    for (const served of running) if (served.child.exitCode === null) served.child.kill("SIGKILL");
    await dropSchema(schema);
    await tmp.cleanup();
  });

  it("should take over a killed owner's source and sink: every change recorded once, delivered at least once", async () => {
    const watched = join(tmp.path, "cfg");
    const out = join(tmp.path, "out.jsonl");
    await mkdir(watched);
    const config = join(tmp.path, "crwatch.yaml");
    await writeFile(
      config,
      `store:\n  type: postgres\n  url: "${postgresUrl}"\n  schema: ${schema}\n  leaseTtlMs: 1000\n` +
        `sources:\n  - name: local\n    type: files\n    paths: [${watched}]\n` +
        `sinks:\n  - name: audit\n    type: jsonl\n    path: ${out}\n`,
    );
    const owner = serve(["--config", config], tmp.path);
    running.push(owner);
    await waitUntilWatching(owner);
    const standby = serve(["--config", config], tmp.path);
    running.push(standby);
    await waitUntilWatching(standby);

    let written = 0;
    const writer = (async () => {
      for (; written < FILES; written++)
        await writeFile(join(watched, `r${written}.yaml`), route(written));
    })();
    await waitFor(
      async () => (await history(schema)).length >= 20,
      30_000,
      "a first part of the burst",
    );
    owner.child.kill("SIGKILL");
    await owner.exited;
    await writer;

    // The standby takes the leases once they lapse and reads the directory from scratch.
    const all = await waitFor(
      async () => {
        const found = await history(schema);
        return found.filter((c) => c.type === "ADDED").length >= FILES ? found : null;
      },
      60_000,
      "every file recorded by the standby",
    );
    const added = all.filter((c) => c.type === "ADDED").map((c) => c.ref.name);
    assert.equal(new Set(added).size, FILES, "every file is recorded once");
    assert.equal(added.length, FILES);
    const verify = cli(["verify", "--data-dir", target]);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);

    // The sink, driven by the standby from the stored cursor, got every change (stable ids).
    const delivered = await waitFor(
      async () => {
        const text = await readFile(out, "utf8").catch(() => "");
        const ids = new Set(
          text
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l).id),
        );
        return all.every((c) => ids.has(c.id)) ? ids : null;
      },
      60_000,
      "every change delivered",
    );
    assert.ok(delivered.size >= all.length);
    const status = cli(["status", "--data-dir", target]);
    assert.match(status.stdout, new RegExp(`source:local: \\S+:${standby.child.pid} `));
    assert.match(status.stdout, new RegExp(`sink:audit: \\S+:${standby.child.pid} `));

    const exit = await stop(standby);
    assert.equal(exit.code, 0, standby.stderr());
  });
});

describe("a paused serve replica whose leases expired", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  const schema = uniqueSchema("paused");
  const target = `${postgresUrl}?schema=${schema}`;
  const running: Served[] = [];
  before(async () => {
    tmp = await tempDir("crwatch-paused-");
  });
  after(async () => {
    for (const served of running) {
      if (served.child.exitCode === null) {
        served.child.kill("SIGCONT");
        served.child.kill("SIGKILL");
      }
    }
    await dropSchema(schema);
    await tmp.cleanup();
  });

  it("should stop writing when it resumes, while the replica that took over records every change once", async () => {
    const watched = join(tmp.path, "cfg");
    await mkdir(watched);
    const config = join(tmp.path, "crwatch.yaml");
    await writeFile(
      config,
      `store:\n  type: postgres\n  url: "${postgresUrl}"\n  schema: ${schema}\n  leaseTtlMs: 1000\n` +
        `sources:\n  - name: local\n    type: files\n    paths: [${watched}]\nsinks: []\n`,
    );
    const owner = serve(["--config", config], tmp.path);
    running.push(owner);
    await waitUntilWatching(owner);
    const standby = serve(["--config", config], tmp.path);
    running.push(standby);
    await waitUntilWatching(standby);
    const added = async () => (await history(schema)).filter((c) => c.type === "ADDED");

    for (let i = 0; i < 10; i++) await writeFile(join(watched, `r${i}.yaml`), route(i));
    await waitFor(async () => (await added()).length >= 10, 30_000, "the owner records");
    owner.child.kill("SIGSTOP");
    const standbyHolds = new RegExp(`source:local: \\S+:${standby.child.pid} `);
    await waitFor(
      () => standbyHolds.test(cli(["status", "--data-dir", target]).stdout),
      30_000,
      "the standby to take the source over",
    );
    for (let i = 10; i < 20; i++) await writeFile(join(watched, `r${i}.yaml`), route(i));
    await waitFor(async () => (await added()).length >= 20, 30_000, "the standby records");

    // Resumed, the old owner sees the file events it slept through; its lease is gone.
    owner.child.kill("SIGCONT");
    await waitFor(
      () => owner.stderr().includes("lease lost: stopping"),
      30_000,
      "the owner to stop",
    );
    const names = (await added()).map((c) => c.ref.name);
    assert.equal(names.length, 20);
    assert.equal(new Set(names).size, 20);
    assert.equal(cli(["verify", "--data-dir", target]).status, 0);
    assert.match(cli(["status", "--data-dir", target]).stdout, standbyHolds);
    assert.equal((await stop(owner)).code, 0, owner.stderr());
    assert.equal((await stop(standby)).code, 0, standby.stderr());
  });
});
