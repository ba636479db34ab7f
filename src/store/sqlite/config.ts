/** `store: { type: sqlite, path: .crwatch }`: the embedded default, one file in a data directory. */
export interface SqliteStoreConfig {
  type: "sqlite";
  /** The data directory (crwatch.db, serve.lock and, by default, mask.key live here). */
  path: string;
  /** A full object every this many revisions; between them a revision is its patch (16). */
  snapshotEvery?: number;
}

export const sqliteStoreSchema = {
  type: "object",
  additionalProperties: false,
  required: ["type"],
  properties: {
    type: { const: "sqlite" },
    path: { type: "string", minLength: 1 },
    snapshotEvery: { type: "integer", minimum: 1, maximum: 1000 },
  },
} as const;
