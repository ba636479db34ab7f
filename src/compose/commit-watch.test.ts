import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import pino from "pino";
import { postgresUrl, waitFor } from "../../test/helpers.js";
import { dropSchema, pgQuery, uniqueSchema } from "../../test/postgres.js";
import { systemClock } from "../core/clock.js";
import { batchOf, resourceChange, routeRef } from "../store/contract.js";
import { openPostgresStore } from "../store/postgres/store.js";
import { watchStoreCommits } from "./commit-watch.js";

/** The connections of this test's listening store, told apart from everyone else's. */
const APP = `crw_commit_watch_${process.pid}`;

async function listenerPids(): Promise<number[]> {
  const rows = await pgQuery<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'",
    [APP],
  );
  return rows.map((r) => r.pid);
}

describe("watchStoreCommits on PostgreSQL", () => {
  const schema = uniqueSchema("commitwatch");
  after(async () => dropSchema(schema));

  it("should hear another process's commits, and again after its listening connection was killed", async () => {
    const writer = await openPostgresStore({ url: postgresUrl, schema, mode: "write" });
    const separator = postgresUrl.includes("?") ? "&" : "?";
    const reader = await openPostgresStore({
      url: `${postgresUrl}${separator}application_name=${APP}`,
      schema,
      mode: "read",
    });
    let heard = 0;
    const logged: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => logged.push(line) });
    const stop = await watchStoreCommits(reader, () => heard++, {
      clock: systemClock,
      log,
      retryMs: 20,
    });
    try {
      assert.ok(stop, "a PostgreSQL store can tell other processes' commits");
      await writer.commit(batchOf([resourceChange("ADDED", routeRef("one"), 1)]));
      await waitFor(() => heard >= 1, 10_000, "the first commit to be heard");

      const [first] = await listenerPids();
      assert.ok(first, "the reader listens on a connection of its own");
      await pgQuery("SELECT pg_terminate_backend($1)", [first]);
      // It listens again on a new connection, says so, and wakes its readers once more
      // (commits may have gone unannounced meanwhile) before this test counts on.
      await waitFor(
        () => logged.some((l) => l.includes("listening for commits again")),
        10_000,
        "listening again",
      );
      assert.ok(logged.some((l) => l.includes("connection listening for commits dropped")));
      assert.ok((await listenerPids()).every((pid) => pid !== first));
      const before = heard;
      await writer.commit(batchOf([resourceChange("ADDED", routeRef("two"), 1)]));
      await waitFor(() => heard > before, 10_000, "a commit heard on the new connection");
    } finally {
      await stop?.();
      await reader.close();
      await writer.close();
    }
    assert.deepEqual(await listenerPids(), [], "stopping closes the listening connection");
  });
});
