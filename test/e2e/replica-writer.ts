/**
 * A writer replica as its own process, for the failover and split-brain tests
 * (src/store/postgres/replicas.test.ts): takes the lease `source:burst`, then commits items
 * from the stored cursor on, one change and its cursor per commit, fenced by its token.
 *
 *   node replica-writer.js writer SCHEMA HOLDER TTL_MS COUNT [wait]
 *
 * Prints `leader TOKEN`, `committed I` per commit, and exits 0 when done, 3 when fenced.
 * With `wait`, it prints `ready` after taking the lease and commits once a line arrives on
 * stdin. Run as a test file (no `writer` argument), it does nothing.
 */
import { once } from "node:events";
import { batchOf, resourceChange, routeRef } from "../../src/store/contract.js";
import { openPostgresStore } from "../../src/store/postgres/store.js";
import { postgresUrl } from "../helpers.js";

const LEASE = "source:burst";

async function main(schema: string, holder: string, ttlMs: number, count: number, wait: boolean) {
  const store = await openPostgresStore({ url: postgresUrl, schema, poolSize: 2, mode: "write" });
  let lease = await store.leases.acquire(LEASE, holder, ttlMs);
  while (!lease) {
    await new Promise((r) => setTimeout(r, 50));
    lease = await store.leases.acquire(LEASE, holder, ttlMs);
  }
  process.stdout.write(`leader ${lease.token}\n`);
  if (wait) {
    process.stdout.write("ready\n");
    await once(process.stdin, "data");
  }
  const cursor = (await store.getSourceCursors("burst")).default;
  for (let i = Number(cursor ?? 0); i < count; i++) {
    try {
      await store.commit(
        batchOf([resourceChange("ADDED", routeRef(`item-${i}`, { source: "burst" }), 1)], {
          cursors: [{ source: "burst", stream: "default", cursor: String(i + 1) }],
          fences: [{ lease: LEASE, token: lease.token }],
        }),
      );
    } catch (err) {
      process.stdout.write(`fenced ${(err as { code?: string }).code}\n`);
      await store.close();
      process.exit(3);
    }
    process.stdout.write(`committed ${i}\n`);
    lease = (await store.leases.acquire(LEASE, holder, ttlMs)) ?? lease;
  }
  await store.close();
}

const [mode, schema, holder, ttl, count, wait] = process.argv.slice(2);
if (mode === "writer" && schema && holder) {
  await main(schema, holder, Number(ttl), Number(count), wait === "wait");
}
