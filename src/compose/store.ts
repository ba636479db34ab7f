import type { StoreConfig } from "../config/schema.js";
import { type OpenedStore, type StoreDeps, storeType } from "../store/registry.js";

/** The one way commands open a store: the configured dialect, in the mode they need. */
export function openStore(config: StoreConfig, mode: StoreDeps["mode"]): Promise<OpenedStore> {
  return storeType(config.type).create(config, { mode });
}

/** A read command's store: the SQLite history of a data directory, opened read-only. */
export function openForReading(dataDir: string): Promise<OpenedStore> {
  return openStore({ type: "sqlite", path: dataDir }, "read");
}

/** An existing history whose ledgers a command edits beside a running serve. */
export function openForMaintenance(dataDir: string): Promise<OpenedStore> {
  return openStore({ type: "sqlite", path: dataDir }, "maintain");
}
