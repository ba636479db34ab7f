import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import pg from "pg";
import { postgresUrl } from "../../../test/helpers.js";
import { dropSchema, pgQuery, uniqueSchema } from "../../../test/postgres.js";
import type { CrwatchError } from "../../model/errors.js";
import { batchOf, type RawSql, resourceChange, routeRef, storeContract } from "../contract.js";
import { LATEST_VERSION, MIGRATIONS } from "../sqlite/migrations.js";
import type { Store } from "../store.js";
import { redactUrl } from "./config.js";
import { PG_LATEST_VERSION, PG_MIGRATIONS } from "./migrations.js";
import {
  COMMIT_CHANNEL,
  openPostgresStore,
  type PostgresStore,
  readChangesQuery,
} from "./store.js";

storeContract("postgres", async () => {
  const schema = uniqueSchema("contract");
  const store = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
  return { store, cleanup: () => dropSchema(schema), raw: rawSql(schema) };
});

/** The contract's raw SQL on a connection of its own, with the store's schema on its path. */
function rawSql(schema: string): RawSql {
  return async (sql, params = []) => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${schema}"`);
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
}

/** Stores opened by one describe block, closed and dropped after it. */
function useSchema(label: string): {
  schema: string;
  open: (poolSize?: number) => Promise<PostgresStore>;
} {
  const schema = uniqueSchema(label);
  const opened: Store[] = [];
  after(async () => {
    for (const store of opened) await store.close();
    await dropSchema(schema);
  });
  return {
    schema,
    async open(poolSize = 4) {
      const store = await openPostgresStore({ url: postgresUrl, schema, poolSize, mode: "write" });
      opened.push(store);
      return store;
    },
  };
}

const isCode = (code: string) => (err: unknown) => (err as CrwatchError).code === code;

describe("postgres store: schema and migrations", () => {
  it("should number its migrations as SQLite does, with the same names", () => {
    assert.equal(PG_LATEST_VERSION, LATEST_VERSION);
    assert.deepEqual(
      PG_MIGRATIONS.map((m) => [m.version, m.name]),
      MIGRATIONS.map((m) => [m.version, m.name]),
    );
  });

  it("should keep the data on reopen, continue the sequence and record the version", async () => {
    const { schema, open } = useSchema("reopen");
    const first = await open();
    await first.commit(batchOf([resourceChange("ADDED", routeRef("a"), 1)]));
    await first.close();
    const second = await open();
    const [next] = await second.commit(batchOf([resourceChange("ADDED", routeRef("b"), 1)]));
    assert.equal(next?.seq, 2);
    const versions = await pgQuery<{ version: number }>(
      `SELECT version FROM "${schema}".schema_migrations ORDER BY version`,
    );
    assert.deepEqual(
      versions.map((v) => v.version),
      Array.from({ length: PG_LATEST_VERSION }, (_, i) => i + 1),
    );
  });

  it("should refuse a schema newer than it knows", async () => {
    const { schema, open } = useSchema("newer");
    await (await open()).close();
    await pgQuery(
      `INSERT INTO "${schema}".schema_migrations (version, name, applied_at) VALUES (99, 'future', 'now')`,
    );
    await assert.rejects(open(), isCode("CRW_STORE_MIGRATION"));
  });

  it("should refuse to read a schema that holds no history, and create nothing", async () => {
    const schema = uniqueSchema("empty");
    await assert.rejects(
      openPostgresStore({ url: postgresUrl, schema, mode: "read" }),
      (err: unknown) => isCode("CRW_STORE_OPEN")(err) && /no crwatch history/.test(String(err)),
    );
    const found = await pgQuery("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
    assert.equal(found.length, 0);
  });

  it("should fail to open with CRW_STORE_OPEN when the server cannot be reached", async () => {
    await assert.rejects(
      openPostgresStore({
        url: "postgres://postgres@127.0.0.1:1/test",
        schema: "x",
        mode: "write",
      }),
      (err: unknown) => isCode("CRW_STORE_OPEN")(err) && (err as Error).cause !== undefined,
    );
  });

  it("should not show the password of a connection URL", () => {
    assert.equal(redactUrl("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
    assert.equal(redactUrl("not a url"), "(an unparsable connection URL)");
  });
});

describe("postgres store: numbers and notifications", () => {
  const { schema, open } = useSchema("numbers");

  it("should read seqs, revisions and ids back as JS numbers", async () => {
    const store = await open();
    const [added] = await store.commit(batchOf([resourceChange("ADDED", routeRef("n"), 1)]));
    await store.advanceConsumer("hook", 1, [{ consumer: "hook", seq: 1, error: "e", attempts: 1 }]);
    const [read] = await store.readChanges({});
    assert.deepEqual(read, added);
    assert.equal(typeof read?.seq, "number");
    assert.equal(typeof (await store.getRevision(routeRef("n")))?.seq, "number");
    assert.equal(typeof (await store.listDeadLetters())[0]?.id, "number");
    assert.equal(typeof (await store.lastSeq()), "number");
  });

  it("should announce each commit on LISTEN/NOTIFY with its schema and last seq", async () => {
    const store = await open();
    const listener = new pg.Client({ connectionString: postgresUrl });
    await listener.connect();
    try {
      const heard = new Promise<string | undefined>((resolve) => {
        listener.on("notification", (n) => {
          if (n.payload?.startsWith(`${schema} `)) resolve(n.payload);
        });
      });
      await listener.query(`LISTEN ${COMMIT_CHANNEL}`);
      const before = await store.lastSeq();
      await store.commit(batchOf([resourceChange("ADDED", routeRef("notify"), 1)]));
      assert.equal(await heard, `${schema} ${before + 1}`);
    } finally {
      await listener.end();
    }
  });
});

describe("postgres store: several writers", () => {
  it("should assign seqs gap-free and in commit order across separate pools", async () => {
    const { open } = useSchema("writers");
    const writers = await Promise.all([open(2), open(2), open(2)]);
    const commitsPerWriter = 15;
    const results = await Promise.all(
      writers.map(async (store, w) => {
        const seqs: number[][] = [];
        for (let i = 0; i < commitsPerWriter; i++) {
          const changes = [0, 1, 2].map((k) =>
            resourceChange("ADDED", routeRef(`w${w}-c${i}-${k}`), 1),
          );
          seqs.push((await store.commit(batchOf(changes))).map((c) => c.seq));
        }
        return seqs;
      }),
    );
    const all = results.flat();
    // Each commit got a contiguous run, and together they cover 1..N exactly once.
    for (const run of all) assert.deepEqual(run, [run[0]!, run[0]! + 1, run[0]! + 2]);
    const total = writers.length * commitsPerWriter * 3;
    assert.deepEqual(
      all.flat().sort((a, b) => a - b),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    // Each writer's commits got increasing seqs: the order it committed them in.
    for (const runs of results) {
      const firsts = runs.map((r) => r[0]!);
      assert.deepEqual(
        [...firsts].sort((a, b) => a - b),
        firsts,
      );
    }
    assert.deepEqual(await writers[0]!.verify(), { ok: true, checked: total, lastSeq: total });
  });

  it("should let exactly one of two racing writers move a head; the other gets CRW_STORE_CONFLICT", async () => {
    const { open } = useSchema("race");
    const [a, b] = await Promise.all([open(), open()]);
    const ref = routeRef("contended");
    await a!.commit(batchOf([resourceChange("ADDED", ref, 1)]));
    for (let round = 2; round <= 6; round++) {
      const outcomes = await Promise.allSettled(
        [a!, b!].map((store) => store.commit(batchOf([resourceChange("MODIFIED", ref, round)]))),
      );
      const won = outcomes.filter((o) => o.status === "fulfilled");
      const lost = outcomes.filter((o) => o.status === "rejected");
      assert.equal(won.length, 1, `round ${round}: one writer wins`);
      assert.ok(isCode("CRW_STORE_CONFLICT")((lost[0] as PromiseRejectedResult).reason));
    }
    const revisions = await b!.listRevisions(ref);
    assert.deepEqual(
      revisions.map((r) => [r.revision, r.seq]),
      [
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 4],
        [5, 5],
        [6, 6],
      ],
    );
    assert.equal((await a!.verify()).ok, true);
  });
});

describe("postgres store: the ref filter uses an index", () => {
  const { schema, open } = useSchema("explain");

  it("should plan a ref substring search through the trigram index", async () => {
    const store = await open();
    for (let c = 0; c < 10; c++) {
      const changes = Array.from({ length: 200 }, (_, i) =>
        resourceChange("ADDED", routeRef(`route-${c}-${i}`, { namespace: `team-${i % 17}` }), 1),
      );
      await store.commit(batchOf(changes));
    }
    await store.commit(batchOf([resourceChange("ADDED", routeRef("needle-in-hay"), 1)]));
    // What autovacuum does in production: moves GIN's pending entries into the index proper
    // and refreshes statistics; until then the planner rightly prices the index high.
    await pgQuery(`VACUUM ANALYZE "${schema}".changes`);
    await pgQuery(`VACUUM ANALYZE "${schema}".refs`);
    const { text, params } = readChangesQuery((table) => `"${schema}".${table}`, {
      refContains: "NEEDLE-in",
    });
    const plan = await pgQuery<{ "QUERY PLAN": string }>(`EXPLAIN ${text}`, params);
    const lines = plan.map((row) => row["QUERY PLAN"]).join("\n");
    assert.match(lines, /refs_ref_search/, lines);
    assert.deepEqual(
      (await store.readChanges({ refContains: "NEEDLE-in" })).map((c) => c.ref.name),
      ["needle-in-hay"],
    );
  });
});
