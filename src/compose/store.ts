import type { StoreConfig } from "../config/schema.js";
import { type OpenedStore, type StoreDeps, storeType } from "../store/registry.js";

/** The one way commands open a store: the configured dialect, in the mode they need. */
export function openStore(config: StoreConfig, mode: StoreDeps["mode"]): Promise<OpenedStore> {
  return storeType(config.type).create(config, { mode });
}

/** A read command's store: by config, or the SQLite history of a data directory. */
export function openForReading(dataDir: string): Promise<OpenedStore> {
  return openStore({ type: "sqlite", path: dataDir }, "read");
}
