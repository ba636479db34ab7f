import { existsSync } from "node:fs";
import { join } from "node:path";
import { CrwatchError } from "../model/errors.js";
import { type CopyReport, copyHistory } from "../store/copy.js";
import { openPostgresStore } from "../store/postgres/store.js";
import { acquireWriterLock } from "../store/sqlite/lock.js";
import { openSqliteStore } from "../store/sqlite/store.js";
import { parseStoreSpec } from "./store.js";

/**
 * `crwatch migrate --from sqlite:DIR --to postgres:URL`: copies a SQLite history into an
 * empty PostgreSQL schema and verifies the copy. The source's writer lock is held, so no
 * `serve` appends while the rows are read.
 */
export async function migrateHistory(fromSpec: string, toSpec: string): Promise<CopyReport> {
  const from = parseStoreSpec(fromSpec);
  const to = parseStoreSpec(toSpec);
  if (from.type !== "sqlite" || to.type !== "postgres") {
    throw new CrwatchError("CRW_USAGE", "migrate copies from sqlite:DIR to postgres://URL");
  }
  if (!existsSync(join(from.path, "crwatch.db"))) {
    throw new CrwatchError("CRW_STORE_OPEN", `no crwatch history in ${from.path}`);
  }
  const release = await acquireWriterLock(from.path);
  try {
    const source = await openSqliteStore({ dir: from.path });
    try {
      const target = await openPostgresStore({
        url: to.url,
        schema: to.schema ?? "public",
        mode: "write",
      });
      try {
        return await copyHistory(source, target);
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
  } finally {
    await release();
  }
}
