import type Database from "better-sqlite3";
import { GENESIS_HASH } from "../../core/hash-chain.js";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import { DEFAULT_SNAPSHOT_EVERY, type RevisionWalkRow, SnapshotThinner } from "../revisions.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** Work SQL cannot do, run after `sql` in the same transaction. */
  after?: (db: Database.Database) => void;
}

/**
 * Append-only: a released migration is never edited, a change of schema is a new entry.
 * JSON columns hold the exact text the hash chain was computed over, so they stay TEXT.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "change log, revisions, heads, cursors",
    sql: `
CREATE TABLE changes (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  source TEXT NOT NULL,
  grp TEXT NOT NULL,
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  revision INTEGER,
  prev_revision INTEGER,
  actor TEXT,
  cause TEXT,
  location TEXT,
  observed_at TEXT NOT NULL,
  committed_at TEXT NOT NULL,
  patch TEXT NOT NULL,
  summary TEXT NOT NULL,
  findings TEXT NOT NULL,
  notice TEXT,
  content_hash TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX changes_by_ref ON changes (source, grp, kind, namespace, name, seq);

CREATE TABLE revisions (
  source TEXT NOT NULL,
  grp TEXT NOT NULL,
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  revision INTEGER NOT NULL,
  seq INTEGER NOT NULL REFERENCES changes (seq),
  object TEXT,
  content_hash TEXT,
  location TEXT,
  PRIMARY KEY (source, grp, kind, namespace, name, revision)
);

CREATE TABLE heads (
  source TEXT NOT NULL,
  grp TEXT NOT NULL,
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  revision INTEGER NOT NULL,
  content_hash TEXT,
  deleted INTEGER NOT NULL,
  location TEXT,
  PRIMARY KEY (source, grp, kind, namespace, name)
);

CREATE TABLE source_cursors (
  source TEXT PRIMARY KEY,
  cursor TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE source_health (
  source TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  message TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE source_problems (
  source TEXT NOT NULL,
  location TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  seq INTEGER NOT NULL REFERENCES changes (seq),
  PRIMARY KEY (source, location)
);

CREATE TABLE consumer_cursors (
  consumer TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE dead_letters (
  id INTEGER PRIMARY KEY,
  consumer TEXT NOT NULL,
  seq INTEGER NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX dead_letters_by_consumer ON dead_letters (consumer, id);

-- The head lives beside the log so that a deleted tail is caught: the last row alone
-- cannot tell that rows after it existed.
CREATE TABLE chain_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq INTEGER NOT NULL,
  last_hash TEXT NOT NULL
);
INSERT INTO chain_head (id, last_seq, last_hash) VALUES (1, 0, '${GENESIS_HASH}');
`,
  },
  {
    version: 2,
    name: "cursors per stream, dead-letter states, restart attempts",
    sql: `
CREATE TABLE source_streams (
  source TEXT NOT NULL,
  stream TEXT NOT NULL,
  cursor TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (source, stream)
);
INSERT INTO source_streams (source, stream, cursor, updated_at)
  SELECT source, 'default', cursor, updated_at FROM source_cursors;
DROP TABLE source_cursors;
ALTER TABLE dead_letters ADD COLUMN state TEXT NOT NULL DEFAULT 'dead';
ALTER TABLE source_health ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 3,
    name: "store facts (mask key fingerprint)",
    sql: `
CREATE TABLE store_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
  );
`,
  },
  {
    version: 4,
    name: "replica leases",
    // Unused by SQLite (one writer per directory): kept so both dialects share versions
    // and a history copied between them has every table.
    sql: `
CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  token INTEGER NOT NULL,
  expires_at TEXT NOT NULL
);
`,
  },
  {
    version: 5,
    name: "slim log: refs by id, snapshots every K revisions, heads derived",
    // Decision 0027. Old revisions all become snapshots, then the JS step drops those the
    // patches rebuild exactly. No REFERENCES: nothing checks a foreign key per row; the
    // chain and verify vouch for what refers to what.
    sql: `
CREATE TABLE refs (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  grp TEXT NOT NULL,
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL
);
CREATE UNIQUE INDEX refs_by_name ON refs (source, grp, kind, namespace, name);
INSERT INTO refs (source, grp, kind, namespace, name)
  SELECT source, grp, kind, namespace, name FROM changes
  GROUP BY source, grp, kind, namespace, name ORDER BY min(seq);

CREATE TABLE changes_v5 (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  ref_id INTEGER NOT NULL,
  revision INTEGER,
  prev_revision INTEGER,
  actor TEXT,
  cause TEXT,
  location TEXT,
  observed_at TEXT NOT NULL,
  committed_at TEXT NOT NULL,
  patch TEXT NOT NULL,
  summary TEXT NOT NULL,
  findings TEXT NOT NULL,
  notice TEXT,
  content_hash TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO changes_v5
  SELECT c.seq, c.type, r.id, c.revision, c.prev_revision, c.actor, c.cause, c.location,
    c.observed_at, c.committed_at, c.patch, c.summary, c.findings, c.notice, c.content_hash,
    c.prev_hash, c.hash
  FROM changes c JOIN refs r ON r.source = c.source AND r.grp = c.grp AND r.kind = c.kind
    AND r.namespace = c.namespace AND r.name = c.name
  ORDER BY c.seq;

-- The full object of a revision, keyed by its change's seq (append-only, no other index).
CREATE TABLE snapshots (
  seq INTEGER PRIMARY KEY,
  object TEXT NOT NULL
);
INSERT INTO snapshots (seq, object)
  SELECT seq, object FROM revisions WHERE object IS NOT NULL ORDER BY seq;

CREATE TABLE source_problems_v5 (
  source TEXT NOT NULL,
  location TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (source, location)
);
INSERT INTO source_problems_v5 SELECT source, location, fingerprint, seq FROM source_problems;

DROP TABLE revisions;
DROP TABLE heads;
DROP TABLE source_problems;
DROP TABLE changes;
ALTER TABLE changes_v5 RENAME TO changes;
ALTER TABLE source_problems_v5 RENAME TO source_problems;
-- Reads by ref (history --ref, a revision, a head, the conflict check) go through it.
CREATE INDEX changes_by_ref ON changes (ref_id, revision);
`,
    after: thinSnapshots,
  },
  {
    version: 6,
    name: "re-masked heads (mask key rotation)",
    // Decision 0028. A head revision's object under a rotated mask key, keyed by the seq of
    // the change the chain committed (that object stays as it is); rebuilds go on from it.
    sql: `
CREATE TABLE remasks (
  seq INTEGER PRIMARY KEY,
  object TEXT NOT NULL,
  content_hash TEXT NOT NULL
);
`,
  },
];

/** The upgrade's second half: drop the old full objects the patches rebuild exactly. */
function thinSnapshots(db: Database.Database): void {
  const rows = db
    .prepare<[], RevisionWalkRow>(
      `SELECT c.ref_id, c.seq, c.revision, c.prev_revision, c.type, c.patch, c.content_hash,
         c.location, s.object, NULL AS source, NULL AS grp, NULL AS kind, NULL AS namespace,
         NULL AS name
       FROM changes c LEFT JOIN snapshots s ON s.seq = c.seq
       WHERE c.revision IS NOT NULL ORDER BY c.ref_id, c.revision`,
    )
    .iterate();
  const thinner = new SnapshotThinner(DEFAULT_SNAPSHOT_EVERY);
  for (const row of rows) thinner.feed(row);
  const remove = db.prepare<[number]>("DELETE FROM snapshots WHERE seq = ?");
  for (const seq of thinner.drop) remove.run(seq);
}

export const LATEST_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/**
 * Brings the schema up to LATEST_VERSION in one transaction, so a crash mid-way leaves the
 * previous version intact. A newer schema is refused: old code writing to it could corrupt
 * rows it does not understand, or write hashes a newer verifier disagrees with.
 */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
): number {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const run = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const current = currentVersion(db);
    if (current > latest) {
      throw new CrwatchError(
        "CRW_STORE_MIGRATION",
        `database schema version ${current} is newer than this crwatch knows (${latest}); upgrade crwatch`,
      );
    }
    applyPending(db, migrations, current);
    return currentVersion(db);
  });
  try {
    return run.immediate();
  } catch (err) {
    if (err instanceof CrwatchError) throw err;
    throw new CrwatchError("CRW_STORE_MIGRATION", `schema migration failed: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * For readers: the schema must already be a crwatch store at this code's version. Nothing is
 * created or upgraded, so a read command pointed at some other SQLite file (or an archived
 * backup) leaves it exactly as it was.
 */
export function checkSchema(db: Database.Database, path: string): void {
  const table = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!table) {
    throw new CrwatchError(
      "CRW_STORE_OPEN",
      `${path} is not a crwatch store (no schema_migrations)`,
    );
  }
  const version = currentVersion(db);
  if (version > LATEST_VERSION) {
    throw new CrwatchError(
      "CRW_STORE_MIGRATION",
      `database schema version ${version} is newer than this crwatch knows (${LATEST_VERSION}); upgrade crwatch`,
    );
  }
  if (version < LATEST_VERSION) {
    throw new CrwatchError(
      "CRW_STORE_MIGRATION",
      `${path} has schema version ${version}; run \`crwatch serve\` once to upgrade it to ${LATEST_VERSION}`,
    );
  }
}

function currentVersion(db: Database.Database): number {
  const row = db
    .prepare<[], { version: number | null }>(
      "SELECT max(version) AS version FROM schema_migrations",
    )
    .get();
  return row?.version ?? 0;
}

function applyPending(
  db: Database.Database,
  migrations: readonly Migration[],
  current: number,
): void {
  const record = db.prepare<[number, string, string]>(
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
  );
  const pending = migrations
    .filter((m) => m.version > current)
    .sort((a, b) => a.version - b.version);
  for (const migration of pending) {
    db.exec(migration.sql);
    migration.after?.(db);
    record.run(migration.version, migration.name, new Date().toISOString());
  }
}
