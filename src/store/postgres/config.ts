/**
 * `store: { type: postgres, url: "${DATABASE_URL}", schema: crwatch }`: a shared history on a
 * PostgreSQL server, for several replicas and long retention.
 */
export interface PostgresStoreConfig {
  type: "postgres";
  /** A libpq connection URL (`postgres://user:pass@host:5432/db`). */
  url: string;
  /** The schema holding crwatch's tables (created when missing); `public` by default. */
  schema?: string;
  /** Connections in the pool (10 by default). */
  poolSize?: number;
  /** This replica's name in the lease table (`status` shows it); `HOST:PID` by default. */
  replica?: string;
  /** A replica's lease on a source or sink lapses this long after its last renewal. */
  leaseTtlMs?: number;
  /** A full object every this many revisions; between them a revision is its patch (16). */
  snapshotEvery?: number;
  /**
   * A local work directory for what sources cache (clones, …); the history itself is in
   * PostgreSQL. Filled with `.crwatch` by the config loader when omitted.
   */
  path: string;
}

/** Unquoted identifiers only: the name is spliced into SQL, so it is checked, not escaped. */
export const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export const postgresStoreSchema = {
  type: "object",
  additionalProperties: false,
  required: ["type", "url"],
  properties: {
    type: { const: "postgres" },
    url: { type: "string", minLength: 1 },
    schema: { type: "string", pattern: SCHEMA_NAME.source },
    poolSize: { type: "integer", minimum: 1, maximum: 100 },
    replica: { type: "string", minLength: 1 },
    leaseTtlMs: { type: "integer", minimum: 300 },
    snapshotEvery: { type: "integer", minimum: 1, maximum: 1000 },
    path: { type: "string", minLength: 1 },
  },
} as const;

/** The URL as it may be shown in a message: without its password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an unparsable connection URL)";
  }
}
