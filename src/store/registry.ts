import { resolve } from "node:path";
import type { ComponentType } from "../model/component.js";
import { type PostgresStoreConfig, postgresStoreSchema } from "./postgres/config.js";
import { openPostgres } from "./postgres/open.js";
import { type SqliteStoreConfig, sqliteStoreSchema } from "./sqlite/config.js";
import { openSqlite } from "./sqlite/open.js";
import type { OpenedStore, StoreDeps } from "./store.js";

export type { OpenedStore, StoreDeps };

export type StoreConfig = SqliteStoreConfig | PostgresStoreConfig;

export type StoreType<C extends StoreConfig = StoreConfig> = ComponentType<
  C,
  StoreDeps,
  Promise<OpenedStore>
>;

const sqlite: StoreType<SqliteStoreConfig> = {
  type: "sqlite",
  schema: sqliteStoreSchema,
  resolvePaths: (config, baseDir) => ({ ...config, path: resolve(baseDir, config.path) }),
  create: openSqlite,
};

const postgres: StoreType<PostgresStoreConfig> = {
  type: "postgres",
  schema: postgresStoreSchema,
  resolvePaths: (config, baseDir) => ({ ...config, path: resolve(baseDir, config.path) }),
  create: openPostgres,
};

/** Store dialects as data: the composition root looks the configured `type` up here. */
export const STORE_TYPES: readonly StoreType[] = [sqlite, postgres as StoreType];

export function storeType(type: string): StoreType {
  const found = STORE_TYPES.find((t) => t.type === type);
  if (!found) throw new Error(`unknown store type ${type}`);
  return found;
}
