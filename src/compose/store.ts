import { resolve } from "node:path";
import type { StoreConfig } from "../config/schema.js";
import { CrwatchError } from "../model/errors.js";
import { type OpenedStore, type StoreDeps, storeType } from "../store/registry.js";

/** The one way commands open a store: the configured dialect, in the mode they need. */
export function openStore(config: StoreConfig, mode: StoreDeps["mode"]): Promise<OpenedStore> {
  return storeType(config.type).create(config, { mode });
}

/**
 * A store named on the command line: `sqlite:DIR`, a plain directory, or a PostgreSQL URL
 * (`postgres://…`, also written `postgres:postgres://…`); `?schema=NAME` in the URL picks
 * the schema and is not sent to the server.
 */
export function parseStoreSpec(spec: string, cwd = process.cwd()): StoreConfig {
  const body = spec.replace(/^postgres:(?=postgres(ql)?:\/\/)/, "");
  if (/^postgres(ql)?:\/\//.test(body)) {
    let url: URL;
    try {
      url = new URL(body);
    } catch (err) {
      throw new CrwatchError("CRW_USAGE", "the PostgreSQL URL cannot be parsed", { cause: err });
    }
    const schema = url.searchParams.get("schema");
    url.searchParams.delete("schema");
    return {
      type: "postgres",
      url: url.toString(),
      ...(schema ? { schema } : {}),
      path: resolve(cwd, ".crwatch"),
    };
  }
  if (/^[a-z]+:/.test(body) && !body.startsWith("sqlite:")) {
    throw new CrwatchError(
      "CRW_USAGE",
      `unknown store "${spec.split(":")[0]}:" (use sqlite:DIR or postgres://…)`,
    );
  }
  return { type: "sqlite", path: resolve(cwd, body.replace(/^sqlite:/, "")) };
}

/** A read command's store: the SQLite history of a data directory, or a PostgreSQL URL. */
export function openForReading(dataDir: string): Promise<OpenedStore> {
  return openStore(parseStoreSpec(dataDir), "read");
}

/** An existing history whose ledgers a command edits beside a running serve. */
export function openForMaintenance(dataDir: string): Promise<OpenedStore> {
  return openStore(parseStoreSpec(dataDir), "maintain");
}
