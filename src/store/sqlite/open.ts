import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CrwatchError } from "../../model/errors.js";
import type { OpenedStore, StoreDeps } from "../store.js";
import type { SqliteStoreConfig } from "./config.js";
import { acquireWriterLock } from "./lock.js";
import { openSqliteStore } from "./store.js";

const DB_FILE = "crwatch.db";

function every(config: SqliteStoreConfig): { snapshotEvery?: number } {
  return config.snapshotEvery ? { snapshotEvery: config.snapshotEvery } : {};
}

/**
 * Opens the SQLite history of a data directory. A writer takes the directory's lock first
 * (one writer per directory); a reader must find an existing history, so a read command
 * pointed at the wrong directory says so instead of creating an empty one.
 */
export async function openSqlite(config: SqliteStoreConfig, deps: StoreDeps): Promise<OpenedStore> {
  const dir = config.path;
  if (deps.mode === "read" || deps.mode === "maintain") {
    if (!existsSync(join(dir, DB_FILE))) {
      throw new CrwatchError(
        "CRW_STORE_OPEN",
        `no crwatch history in ${dir} (run \`crwatch serve\` first, or pass --data-dir)`,
      );
    }
    return {
      store: await openSqliteStore({ dir, readonly: deps.mode === "read", ...every(config) }),
      release: async () => undefined,
    };
  }
  if (deps.mode === "scratch") {
    return {
      store: await openSqliteStore({ dir, ...every(config) }),
      release: async () => undefined,
    };
  }
  await mkdir(dir, { recursive: true }).catch((err) => {
    throw new CrwatchError("CRW_STORE_OPEN", `cannot create the data directory ${dir}`, {
      cause: err,
    });
  });
  const release = await acquireWriterLock(resolve(dir));
  try {
    const store = await openSqliteStore({ dir, ...every(config) });
    await store.checkBeforeWriting().catch(async (err) => {
      await store.close();
      throw err;
    });
    return { store, release };
  } catch (err) {
    await release();
    throw err;
  }
}
