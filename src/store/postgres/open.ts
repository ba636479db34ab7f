import type { OpenedStore, StoreDeps } from "../store.js";
import type { PostgresStoreConfig } from "./config.js";
import { openPostgresStore } from "./store.js";

/**
 * Opens a PostgreSQL history. There is no writer lock: several replicas write through one
 * schema, and the commit itself serializes them (store.ts). A reader must find an existing
 * history, so a read command pointed at the wrong schema says so instead of creating one.
 */
export async function openPostgres(
  config: PostgresStoreConfig,
  deps: StoreDeps,
): Promise<OpenedStore> {
  const store = await openPostgresStore({
    url: config.url,
    schema: config.schema ?? "public",
    ...(config.poolSize ? { poolSize: config.poolSize } : {}),
    ...(config.replica ? { replica: config.replica } : {}),
    ...(config.leaseTtlMs ? { leaseTtlMs: config.leaseTtlMs } : {}),
    ...(config.snapshotEvery ? { snapshotEvery: config.snapshotEvery } : {}),
    mode: deps.mode === "read" ? "read" : "write",
  });
  return { store, release: async () => undefined };
}
