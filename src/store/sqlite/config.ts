/** `store: { type: sqlite, path: .crwatch }`: the embedded default, one file in a data directory. */
export interface SqliteStoreConfig {
  type: "sqlite";
  /** The data directory (crwatch.db, serve.lock and, by default, mask.key live here). */
  path: string;
}

export const sqliteStoreSchema = {
  type: "object",
  additionalProperties: false,
  required: ["type"],
  properties: {
    type: { const: "sqlite" },
    path: { type: "string", minLength: 1 },
  },
} as const;
