import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import pino from "pino";
import { cli } from "../../test/e2e/process.js";
import { postgresUrl, tempDir } from "../../test/helpers.js";
import { dropSchema, uniqueSchema } from "../../test/postgres.js";
import { loadConfig } from "../config/load.js";
import { FakeClock } from "../core/clock.js";
import { startCrwatch } from "../main.js";
import type { CrwatchError } from "../model/errors.js";
import { batchOf, resourceChange, routeRef } from "../store/contract.js";
import { openPostgresStore } from "../store/postgres/store.js";
import { parseStoreSpec } from "./store.js";

const isCode = (code: string) => (err: unknown) => (err as CrwatchError).code === code;

describe("postgres store in the config and on the command line", () => {
  const dirs: { cleanup: () => Promise<void> }[] = [];
  const schema = uniqueSchema("compose");
  after(async () => {
    await dropSchema(schema);
    for (const dir of dirs) await dir.cleanup();
  });

  async function configFile(yaml: string): Promise<string> {
    const dir = await tempDir();
    dirs.push(dir);
    const path = join(dir.path, "crwatch.yaml");
    await writeFile(path, yaml);
    return path;
  }

  it("should read `store: {type: postgres, url: ${DATABASE_URL}, schema}`", async () => {
    const path = await configFile(
      'store:\n  type: postgres\n  url: "${DATABASE_URL}"\n  schema: crw_prod\n',
    );
    const config = await loadConfig({ configPath: path, env: { DATABASE_URL: postgresUrl } });
    assert.equal(config.store.type, "postgres");
    assert.deepEqual(
      { ...config.store, path: undefined },
      { type: "postgres", url: postgresUrl, schema: "crw_prod", path: undefined },
    );
  });

  it("should refuse a schema name that is not a plain identifier, and a missing url", async () => {
    const bad = await configFile('store:\n  type: postgres\n  url: x\n  schema: "a; DROP"\n');
    await assert.rejects(loadConfig({ configPath: bad, env: {} }), isCode("CRW_CONFIG_INVALID"));
    const noUrl = await configFile("store:\n  type: postgres\n");
    await assert.rejects(loadConfig({ configPath: noUrl, env: {} }), isCode("CRW_CONFIG_INVALID"));
  });

  it("should need a mask key outside the data directory to serve from PostgreSQL", async () => {
    const path = await configFile(
      `store:\n  type: postgres\n  url: "${postgresUrl}"\n  schema: ${schema}\nsinks: []\n`,
    );
    const config = await loadConfig({ configPath: path, env: {} });
    await assert.rejects(
      startCrwatch(config, { log: pino({ level: "silent" }) }),
      isCode("CRW_MASK_KEY"),
    );
    const keyed = await loadConfig({
      configPath: path,
      env: { CRWATCH_MASK_KEY: "a-mask-key-of-some-length" },
    });
    const crwatch = await startCrwatch(keyed, { log: pino({ level: "silent" }) });
    assert.equal(crwatch.store.capabilities.multiWriter, true);
    await crwatch.stop();
  });

  it("should parse store specs: sqlite:DIR, a directory, and PostgreSQL URLs with a schema", () => {
    assert.deepEqual(parseStoreSpec("sqlite:data", "/w"), { type: "sqlite", path: "/w/data" });
    assert.deepEqual(parseStoreSpec("data", "/w"), { type: "sqlite", path: "/w/data" });
    assert.deepEqual(parseStoreSpec("postgres:postgres://u@h/db?schema=s1", "/w"), {
      type: "postgres",
      url: "postgres://u@h/db",
      schema: "s1",
      path: "/w/.crwatch",
    });
    assert.equal(parseStoreSpec("postgresql://u@h/db", "/w").type, "postgres");
    assert.throws(() => parseStoreSpec("mysql://h/db"), isCode("CRW_USAGE"));
  });
});

describe("replicas on one PostgreSQL store", () => {
  const schema = uniqueSchema("notify");
  const dirs: { cleanup: () => Promise<void> }[] = [];
  after(async () => {
    await dropSchema(schema);
    for (const dir of dirs) await dir.cleanup();
  });

  it("should wake a replica's sinks by LISTEN/NOTIFY when another process commits", async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const path = join(dir.path, "crwatch.yaml");
    await writeFile(
      path,
      `store:\n  type: postgres\n  url: "${postgresUrl}"\n  schema: ${schema}\n` +
        `sinks:\n  - name: audit\n    type: jsonl\n    path: ${join(dir.path, "out.jsonl")}\n`,
    );
    const config = await loadConfig({
      configPath: path,
      env: { CRWATCH_MASK_KEY: "a-mask-key-of-some-length" },
    });
    let delivered: (seqs: number[]) => void = () => undefined;
    const heard = new Promise<number[]>((resolve) => {
      delivered = resolve;
    });
    // Fake time: the dispatcher's fallback poll never fires, so only a NOTIFY can wake it.
    const crwatch = await startCrwatch(config, {
      log: pino({ level: "silent" }),
      clock: new FakeClock(),
      onDelivered: (_sink, changes) => delivered(changes.map((c) => c.seq)),
    });
    // Once ready, this replica holds the sink's lease and its dispatcher idles.
    await crwatch.ready();
    const other = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
    try {
      await other.commit(batchOf([resourceChange("ADDED", routeRef("elsewhere"), 1)]));
      assert.deepEqual(await heard, [1]);
    } finally {
      await other.close();
      await crwatch.stop();
    }
  });

  it("should show the leases in `status` of a shared store", async () => {
    const store = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
    await store.leases.acquire("source:cluster-a", "replica-1", 60_000);
    await store.close();
    const run = cli(["status", "--data-dir", `${postgresUrl}?schema=${schema}`]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^leases:$/m);
    assert.match(run.stdout, /^ {2}source:cluster-a: replica-1 \(token 1, until /m);
    // The replica of the test before held the sink's lease until it stopped.
    assert.match(run.stdout, /^ {2}sink:audit: \S+ \(token 1, until /m);
  });
});
