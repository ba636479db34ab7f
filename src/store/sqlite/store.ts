import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Change, Revision } from "../../model/change.js";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import { formatRef, type Ref } from "../../model/ref.js";
import {
  CHECKPOINT_FILE,
  type Checkpoint,
  checkpointProblem,
  readCheckpoint,
  writeCheckpoint,
} from "../checkpoint.js";
import { type ChainHead, conflictError, expectedHeads, planCommit } from "../commit-plan.js";
import type { CopiedTable, HistoryExporter, RawRow } from "../copy.js";
import { fromSinkRow, isSinkRow, sinkRow } from "../health-rows.js";
import {
  CHAIN_COLUMNS,
  type ChangeRow,
  changeOf,
  type HeadRow,
  headOf,
  type RefParams,
  type RevisionRow,
  refParams,
  revisionOf,
} from "../log-format.js";
import type {
  ChangeQuery,
  CommitBatch,
  ConsumerCursor,
  DeadLetter,
  DeadLetterFilter,
  Head,
  NewDeadLetter,
  OpenProblem,
  ResourceQuery,
  SinkHealthRow,
  SourceHealth,
  Store,
  StoreCapabilities,
  VerifyResult,
} from "../store.js";
import { type RevisionCheckRow, verifyRevisions, verifyRows } from "../verify.js";
import { checkSchema, migrate } from "./migrations.js";

export interface SqliteStoreOptions {
  dir: string;
  /** Defaults to `crwatch.db`. */
  fileName?: string;
  /**
   * Open an existing store without writing anything (read commands, archived backups): no
   * schema is created or upgraded, no checkpoint is written.
   */
  readonly?: boolean;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const path = join(options.dir, options.fileName ?? "crwatch.db");
  const db = options.readonly ? openReadOnly(path) : openDatabase(options.dir, path);
  try {
    if (options.readonly) {
      configureReader(db);
      checkSchema(db, path);
    } else {
      configure(db);
      migrate(db);
    }
    return new SqliteStore(db, options.dir, options.readonly === true);
  } catch (err) {
    db.close();
    if (err instanceof CrwatchError) throw err;
    const code = isCorruption(err) ? "CRW_STORE_CORRUPT" : "CRW_STORE_OPEN";
    throw new CrwatchError(code, `cannot open store ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

function openDatabase(dir: string, path: string): Database.Database {
  try {
    mkdirSync(dir, { recursive: true });
    return new Database(path);
  } catch (err) {
    throw new CrwatchError("CRW_STORE_OPEN", `cannot open store ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** Larger histories are opened in place rather than copied into memory. */
const MAX_IN_MEMORY_BYTES = 1024 ** 3;

/**
 * Opens a history so that nothing in its directory changes. A WAL database opened read-only
 * in place still creates `-wal` and `-shm` files (and cannot be opened at all in a read-only
 * directory). When no `-wal` file exists, every committed page is in the main file, so a
 * copy in memory, marked as a rollback-journal database, reads the same history and leaves
 * the archive as it was. With a `-wal` (a running serve, or one that crashed), the WAL must
 * be read in place.
 */
function openReadOnly(path: string): Database.Database {
  try {
    if (!existsSync(`${path}-wal`) && statSync(path).size <= MAX_IN_MEMORY_BYTES) {
      const image = readFileSync(path);
      if (image.length >= 20) {
        image[18] = 1; // file format write version: legacy (no WAL)
        image[19] = 1; // file format read version
      }
      return new Database(image, { readonly: true });
    }
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new CrwatchError("CRW_STORE_OPEN", `cannot open store ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * SQLite's page cache per connection, sized on purpose (negative: KiB): 8 MiB holds the
 * indexes' upper levels and the pages a commit touches; the OS page cache holds the rest,
 * so a larger one would only count against crwatch's resident memory (decision 0023).
 */
const PAGE_CACHE_KIB = -8192;

function configureReader(db: Database.Database): void {
  db.pragma("busy_timeout = 5000");
  db.pragma(`cache_size = ${PAGE_CACHE_KIB}`);
  db.function("crw_ref_contains", { deterministic: true }, refContains);
}

function configure(db: Database.Database): void {
  // Takes effect only when the file is new (before WAL is set). Objects of a few KiB
  // leave much of a 4 KiB page empty; 16 KiB pages cut the bytes written per revision by a
  // third in the commit benchmark.
  db.pragma("page_size = 16384");
  db.pragma("journal_mode = WAL");
  // In WAL mode NORMAL syncs only at checkpoints: a commit is in the WAL file (the OS page
  // cache) when commit() returns, so it survives a process crash or kill -9, which is what
  // crwatch promises. Only an OS crash or power loss can lose the latest commits; FULL
  // would fsync every commit and cost most of the write throughput for that case.
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  db.pragma(`cache_size = ${PAGE_CACHE_KIB}`);
  db.function("crw_ref_contains", { deterministic: true }, refContains);
}

/** Matches formatRef exactly and folds case as JS does (SQLite's LIKE folds ASCII only). */
function refContains(
  source: unknown,
  group: unknown,
  kind: unknown,
  namespace: unknown,
  name: unknown,
  needle: unknown,
): number {
  const ref = {
    source: String(source),
    group: String(group),
    kind: String(kind),
    namespace: String(namespace),
    name: String(name),
  };
  return formatRef(ref).toLowerCase().includes(String(needle).toLowerCase()) ? 1 : 0;
}

interface ChainHeadRow {
  last_seq: number;
  last_hash: string;
}

type SqlParams = Record<string, string | number>;

/** The WHERE clauses and parameters of a change query; every clause is a fixed string. */
function changeWhere(query: ChangeQuery): { where: string[]; params: SqlParams } {
  const where = ["seq > @afterSeq"];
  const params: SqlParams = { afterSeq: query.afterSeq ?? 0 };
  const add = (clause: string, name: string, value: string | number | undefined) => {
    if (value === undefined) return;
    where.push(clause);
    params[name] = value;
  };
  add("seq < @beforeSeq", "beforeSeq", query.beforeSeq);
  add("type IN (SELECT value FROM json_each(@types))", "types", jsonList(query.types));
  add("source = @source", "source", query.source);
  add("grp = @grp", "grp", query.group);
  add("kind = @kind", "kind", query.kind);
  add("namespace = @namespace", "namespace", query.namespace);
  add("name = @name", "name", query.name);
  add("json_extract(actor, '$.name') = @actor", "actor", query.actor);
  add("committed_at >= @committedFrom", "committedFrom", query.committedFrom);
  add("committed_at < @committedTo", "committedTo", query.committedTo);
  add(
    `EXISTS (SELECT 1 FROM json_each(findings) AS f
       WHERE json_extract(f.value, '$.severity') IN (SELECT value FROM json_each(@severities)))`,
    "severities",
    jsonList(query.severities),
  );
  add(
    "crw_ref_contains(source, grp, kind, namespace, name, @needle)",
    "needle",
    query.refContains || undefined,
  );
  return { where, params };
}

function jsonList(values: readonly string[] | undefined): string | undefined {
  return values?.length ? JSON.stringify(values) : undefined;
}

const REF_COLUMNS = ["source", "grp", "kind", "namespace", "name"] as const;

/** Current resources: each head's revision; row-value comparison pages in ref order. */
function resourceWhere(query: ResourceQuery): { where: string[]; params: SqlParams } {
  const where: string[] = [];
  const params: SqlParams = {};
  const parts = [query.source, query.group, query.kind, query.namespace, query.name];
  REF_COLUMNS.forEach((column, i) => {
    const value = parts[i];
    if (value === undefined) return;
    where.push(`h.${column} = @${column}`);
    params[column] = value;
  });
  if (!query.includeDeleted) where.push("h.deleted = 0");
  if (query.afterRef) {
    where.push(
      `(h.source, h.grp, h.kind, h.namespace, h.name) > (@a_source, @a_grp, @a_kind, @a_namespace, @a_name)`,
    );
    refParams(query.afterRef).forEach((value, i) => {
      params[`a_${REF_COLUMNS[i]}`] = value;
    });
  }
  return { where, params };
}

interface DeadLetterParams {
  consumer: string | null;
  state: string | null;
  /** JSON array of ids, or null for all. */
  ids: string | null;
}

const COLUMNS = CHAIN_COLUMNS.join(", ");
const REF_WHERE = "source = ? AND grp = ? AND kind = ? AND namespace = ? AND name = ?";
const DEAD_LETTER_WHERE = `(@consumer IS NULL OR consumer = @consumer)
  AND (@state IS NULL OR state = @state)
  AND (@ids IS NULL OR id IN (SELECT value FROM json_each(@ids)))`;

function prepareStatements(db: Database.Database) {
  return {
    insertChange: db.prepare<ChangeRow>(
      `INSERT INTO changes (${COLUMNS}, prev_hash, hash)
       VALUES (${CHAIN_COLUMNS.map((c) => `@${c}`).join(", ")}, @prev_hash, @hash)`,
    ),
    insertRevision: db.prepare<RevisionRow>(
      `INSERT INTO revisions (source, grp, kind, namespace, name, revision, seq, object, content_hash, location)
       VALUES (@source, @grp, @kind, @namespace, @name, @revision, @seq, @object, @content_hash, @location)`,
    ),
    upsertHead: db.prepare<HeadRow>(
      `INSERT INTO heads (source, grp, kind, namespace, name, revision, content_hash, deleted, location)
       VALUES (@source, @grp, @kind, @namespace, @name, @revision, @content_hash, @deleted, @location)
       ON CONFLICT (source, grp, kind, namespace, name) DO UPDATE SET
         revision = excluded.revision, content_hash = excluded.content_hash,
         deleted = excluded.deleted, location = excluded.location`,
    ),
    headRevision: db.prepare<RefParams, { revision: number }>(
      `SELECT revision FROM heads WHERE ${REF_WHERE}`,
    ),
    upsertProblem: db.prepare<[string, string, string, number]>(
      `INSERT INTO source_problems (source, location, fingerprint, seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (source, location) DO UPDATE SET fingerprint = excluded.fingerprint, seq = excluded.seq`,
    ),
    deleteProblem: db.prepare<[string, string]>(
      "DELETE FROM source_problems WHERE source = ? AND location = ?",
    ),
    upsertStream: db.prepare<[string, string, string, string]>(
      `INSERT INTO source_streams (source, stream, cursor, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (source, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
    ),
    getChainHead: db.prepare<[], ChainHeadRow>(
      "SELECT last_seq, last_hash FROM chain_head WHERE id = 1",
    ),
    setChainHead: db.prepare<[number, string]>(
      `INSERT INTO chain_head (id, last_seq, last_hash) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash`,
    ),
    allChanges: db.prepare<[], ChangeRow>("SELECT * FROM changes ORDER BY seq"),
    revisionChecks: db.prepare<[], RevisionCheckRow>(
      `SELECT r.*, c.type AS change_type, c.revision AS change_revision,
         c.content_hash AS change_hash, c.source AS change_source, c.grp AS change_grp,
         c.kind AS change_kind, c.namespace AS change_namespace, c.name AS change_name
       FROM revisions r LEFT JOIN changes c ON c.seq = r.seq ORDER BY r.seq`,
    ),
    resourceChangeCount: db.prepare<[], { n: number }>(
      "SELECT count(*) AS n FROM changes WHERE type NOT IN ('GAP', 'ERROR')",
    ),
    getChange: db.prepare<[number], ChangeRow>("SELECT * FROM changes WHERE seq = ?"),
    lastSeq: db.prepare<[], { seq: number | null }>("SELECT max(seq) AS seq FROM changes"),
    loadHeads: db.prepare<[string], HeadRow>(
      "SELECT * FROM heads WHERE source = ? ORDER BY grp, kind, namespace, name",
    ),
    latestRevision: db.prepare<RefParams, RevisionRow>(
      `SELECT * FROM revisions WHERE ${REF_WHERE} ORDER BY revision DESC LIMIT 1`,
    ),
    getRevision: db.prepare<[...RefParams, number], RevisionRow>(
      `SELECT * FROM revisions WHERE ${REF_WHERE} AND revision = ?`,
    ),
    listRevisions: db.prepare<RefParams, RevisionRow>(
      `SELECT * FROM revisions WHERE ${REF_WHERE} ORDER BY revision`,
    ),
    getStreams: db.prepare<[string], { stream: string; cursor: string }>(
      "SELECT stream, cursor FROM source_streams WHERE source = ? ORDER BY stream",
    ),
    upsertHealth: db.prepare<[string, string, string, string, number]>(
      `INSERT INTO source_health (source, status, message, updated_at, attempts) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (source) DO UPDATE SET status = excluded.status, message = excluded.message,
         updated_at = excluded.updated_at, attempts = excluded.attempts`,
    ),
    listHealth: db.prepare<[], SourceHealth>(
      `SELECT source, status, message, updated_at AS updatedAt, attempts
       FROM source_health ORDER BY source`,
    ),
    openProblems: db.prepare<[string], OpenProblem>(
      "SELECT location, fingerprint, seq FROM source_problems WHERE source = ? ORDER BY location",
    ),
    getConsumerCursor: db.prepare<[string], { seq: number }>(
      "SELECT seq FROM consumer_cursors WHERE consumer = ?",
    ),
    listConsumerCursors: db.prepare<[], ConsumerCursor>(
      "SELECT consumer, seq, updated_at AS updatedAt FROM consumer_cursors ORDER BY consumer",
    ),
    setConsumerCursor: db.prepare<[string, number, string]>(
      `INSERT INTO consumer_cursors (consumer, seq, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
    ),
    addDeadLetter: db.prepare<[string, number, string, number, string]>(
      "INSERT INTO dead_letters (consumer, seq, error, attempts, created_at) VALUES (?, ?, ?, ?, ?)",
    ),
    listDeadLetters: db.prepare<[DeadLetterParams], DeadLetter>(
      `SELECT id, consumer, seq, error, attempts, created_at AS createdAt, state FROM dead_letters
       WHERE ${DEAD_LETTER_WHERE} ORDER BY id`,
    ),
    requeueDeadLetters: db.prepare<[DeadLetterParams]>(
      `UPDATE dead_letters SET state = 'retry' WHERE ${DEAD_LETTER_WHERE}`,
    ),
    failDeadLetter: db.prepare<[string, number, number]>(
      "UPDATE dead_letters SET state = 'dead', error = ?, attempts = ? WHERE id = ?",
    ),
    getMeta: db.prepare<[string], { value: string }>("SELECT value FROM store_meta WHERE key = ?"),
    setMeta: db.prepare<[string, string]>(
      `INSERT INTO store_meta (key, value) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    ),
    removeDeadLetters: db.prepare<[DeadLetterParams]>(
      `DELETE FROM dead_letters WHERE ${DEAD_LETTER_WHERE}`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

const DEFAULT_LIMIT = 1000;
const EXPORT_PAGE = 500;

function deadLetterParams(filter: DeadLetterFilter = {}): DeadLetterParams {
  return {
    consumer: filter.consumer ?? null,
    state: filter.state ?? null,
    ids: filter.ids ? JSON.stringify(filter.ids) : null,
  };
}

function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB";
}

/** The SQLite dialect: runs the dialect-neutral commit plan and reads rows back. */
export class SqliteStore implements Store, HistoryExporter {
  readonly capabilities: StoreCapabilities = {
    multiWriter: false,
    crossProcessNotify: false,
    local: true,
  };
  private readonly db: Database.Database;
  private readonly stmts: Statements;
  // IMMEDIATE takes the write lock up front, so the chain head read at the start cannot be
  // overtaken by another connection before the rows that depend on it are written.
  private readonly commitTx: (batch: CommitBatch) => Change[];
  private readonly advanceTx: (consumer: string, seq: number, letters: NewDeadLetter[]) => void;
  private readonly verifyTx: () => VerifyResult;
  private lastCheckpointAt = 0;
  private readonly queries = new Map<string, Database.Statement<[SqlParams], unknown>>();

  constructor(
    db: Database.Database,
    private readonly dir: string,
    private readonly readonly: boolean,
  ) {
    this.db = db;
    this.stmts = prepareStatements(db);
    const commitTx = db.transaction((batch: CommitBatch) => this.commitSync(batch));
    this.commitTx = (batch) => commitTx.immediate(batch);
    const advanceTx = db.transaction(this.advanceSync.bind(this));
    this.advanceTx = (consumer, seq, letters) => advanceTx.immediate(consumer, seq, letters);
    // One read transaction, so the head and the rows are one snapshot.
    this.verifyTx = db.transaction(() => this.verifySync());
  }

  private verifySync(): VerifyResult {
    try {
      return this.verifyUnsafe();
    } catch (err) {
      if (!isCorruption(err)) throw err;
      const reason = `the database file is damaged: ${errorMessage(err)}`;
      return { ok: false, checked: 0, firstBadSeq: 0, reason, code: "CRW_STORE_CORRUPT" };
    }
  }

  private verifyUnsafe(): VerifyResult {
    const damage = this.quickCheck();
    if (damage)
      return { ok: false, checked: 0, firstBadSeq: 0, reason: damage, code: "CRW_STORE_CORRUPT" };
    const head = this.chainHead();
    const chain = verifyRevisions(
      verifyRows(this.stmts.allChanges.iterate(), head),
      () => this.stmts.revisionChecks.iterate(),
      this.stmts.resourceChangeCount.get()?.n ?? 0,
    );
    if (!chain.ok || !head) return chain;
    const lost = this.checkpointProblem(head);
    if (!lost) return chain;
    return {
      ok: false,
      checked: chain.checked,
      firstBadSeq: head.lastSeq + 1,
      reason: lost,
      code: "CRW_STORE_TRUNCATED",
    };
  }

  /** SQLite's own check of the file's structure; undefined when it is sound. */
  private quickCheck(): string | undefined {
    const rows = this.db.pragma("quick_check(20)") as { quick_check: string }[];
    const problems = rows.map((r) => r.quick_check).filter((r) => r !== "ok");
    return problems.length > 0 ? `the database file is damaged: ${problems.join("; ")}` : undefined;
  }

  private checkpointProblem(head: ChainHead): string | undefined {
    const path = join(this.dir, CHECKPOINT_FILE);
    let checkpoint: Checkpoint | undefined;
    try {
      checkpoint = readCheckpoint(path);
    } catch (err) {
      return errorMessage(err);
    }
    if (!checkpoint) return undefined;
    return checkpointProblem(checkpoint, head, this.stmts.getChange.get(checkpoint.lastSeq)?.hash);
  }

  /**
   * Refuses to write to a damaged file or to a log that lost entries it once had: writing on
   * would bury the loss under new entries. Called by `serve` (write mode) at start.
   */
  async checkBeforeWriting(): Promise<void> {
    const damage = this.quickCheck();
    if (damage) throw new CrwatchError("CRW_STORE_CORRUPT", damage);
    const head = this.chainHead();
    const lost = head && this.checkpointProblem(head);
    if (lost) {
      throw new CrwatchError(
        "CRW_STORE_TRUNCATED",
        `${lost}. Restore the data directory from a backup, or move ${CHECKPOINT_FILE} away to accept the loss (it will be recorded from here on)`,
      );
    }
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.stmts.getMeta.get(key)?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.stmts.setMeta.run(key, value);
  }

  async loadHeads(source: string): Promise<Head[]> {
    return this.stmts.loadHeads.all(source).map(headOf);
  }

  async getRevision(ref: Ref, revision?: number): Promise<Revision | undefined> {
    const row =
      revision === undefined
        ? this.stmts.latestRevision.get(...refParams(ref))
        : this.stmts.getRevision.get(...refParams(ref), revision);
    return row && revisionOf(row);
  }

  async listRevisions(ref: Ref): Promise<Revision[]> {
    return this.stmts.listRevisions.all(...refParams(ref)).map(revisionOf);
  }

  async commit(batch: CommitBatch): Promise<Change[]> {
    try {
      const committed = this.commitTx(batch);
      if (committed.length > 0) this.saveCheckpoint(false);
      return committed;
    } catch (err) {
      if (err instanceof CrwatchError) throw err;
      throw new CrwatchError(
        "CRW_STORE_WRITE",
        `commit of ${batch.changes.length} change(s) failed: ${String(err)}`,
        { cause: err },
      );
    }
  }

  async readChanges(query: ChangeQuery): Promise<Change[]> {
    const { where, params } = changeWhere(query);
    const order = query.order === "desc" ? "DESC" : "ASC";
    const sql = `SELECT * FROM changes WHERE ${where.join(" AND ")} ORDER BY seq ${order} LIMIT @limit`;
    params.limit = Math.max(0, query.limit ?? DEFAULT_LIMIT);
    return this.cached<ChangeRow>(sql).all(params).map(changeOf);
  }

  async listResources(query: ResourceQuery): Promise<Revision[]> {
    const { where, params } = resourceWhere(query);
    const join = REF_COLUMNS.map((c) => `r.${c} = h.${c}`).join(" AND ");
    const sql = `SELECT r.* FROM heads h JOIN revisions r ON ${join} AND r.revision = h.revision
      ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY h.source, h.grp, h.kind, h.namespace, h.name LIMIT @limit`;
    params.limit = Math.max(0, query.limit ?? DEFAULT_LIMIT);
    return this.cached<RevisionRow>(sql).all(params).map(revisionOf);
  }

  /** Filtered queries are built from fixed clauses; each distinct shape is prepared once. */
  private cached<Row>(sql: string): Database.Statement<[SqlParams], Row> {
    let stmt = this.queries.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<[SqlParams], unknown>(sql);
      this.queries.set(sql, stmt);
    }
    return stmt as Database.Statement<[SqlParams], Row>;
  }

  async getChange(seq: number): Promise<Change | undefined> {
    const row = this.stmts.getChange.get(seq);
    return row && changeOf(row);
  }

  async lastSeq(): Promise<number> {
    return this.stmts.lastSeq.get()?.seq ?? 0;
  }

  async getSourceCursors(source: string): Promise<Record<string, string>> {
    const rows = this.stmts.getStreams.all(source);
    return Object.fromEntries(rows.map((r) => [r.stream, r.cursor]));
  }

  async setSourceHealth(health: SourceHealth): Promise<void> {
    const { source, status, message, updatedAt, attempts } = health;
    this.stmts.upsertHealth.run(source, status, message, updatedAt, attempts ?? 0);
  }

  async listSourceHealth(): Promise<SourceHealth[]> {
    return this.stmts.listHealth.all().filter((row) => !isSinkRow(row));
  }

  async setSinkHealth(health: SinkHealthRow): Promise<void> {
    await this.setSourceHealth(sinkRow(health));
  }

  async listSinkHealth(): Promise<SinkHealthRow[]> {
    return this.stmts.listHealth.all().filter(isSinkRow).map(fromSinkRow);
  }

  async openProblems(source: string): Promise<OpenProblem[]> {
    return this.stmts.openProblems.all(source);
  }

  async getConsumerCursor(consumer: string): Promise<number> {
    return this.stmts.getConsumerCursor.get(consumer)?.seq ?? 0;
  }

  async listConsumerCursors(): Promise<ConsumerCursor[]> {
    return this.stmts.listConsumerCursors.all();
  }

  async setConsumerCursor(consumer: string, seq: number): Promise<void> {
    this.stmts.setConsumerCursor.run(consumer, seq, new Date().toISOString());
  }

  async advanceConsumer(consumer: string, seq: number, letters: NewDeadLetter[]): Promise<void> {
    this.advanceTx(consumer, seq, letters);
  }

  async listDeadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]> {
    return this.stmts.listDeadLetters.all(deadLetterParams(filter));
  }

  async requeueDeadLetters(filter: DeadLetterFilter): Promise<number> {
    return this.stmts.requeueDeadLetters.run(deadLetterParams(filter)).changes;
  }

  async failDeadLetter(id: number, error: string, attempts: number): Promise<void> {
    this.stmts.failDeadLetter.run(error, attempts, id);
  }

  async removeDeadLetters(filter: DeadLetterFilter): Promise<number> {
    return this.stmts.removeDeadLetters.run(deadLetterParams(filter)).changes;
  }

  async verify(): Promise<VerifyResult> {
    return this.verifyTx();
  }

  /** Pages by rowid (insertion order; seq for changes), so no iterator stays open across awaits. */
  async *exportRows(table: CopiedTable): AsyncIterable<RawRow[]> {
    const page = this.db.prepare<[number], RawRow & { _rowid: number }>(
      `SELECT rowid AS _rowid, ${table.columns.join(", ")} FROM ${table.name}
       WHERE rowid > ? ORDER BY rowid LIMIT ${EXPORT_PAGE}`,
    );
    for (let after = 0; ; ) {
      const rows = page.all(after);
      if (rows.length > 0) {
        after = rows[rows.length - 1]?._rowid ?? after;
        yield rows.map(({ _rowid, ...row }) => row);
      }
      if (rows.length < EXPORT_PAGE) return;
    }
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.saveCheckpoint(true);
    this.db.close();
  }

  /** At most once a second while committing, and at close. */
  private saveCheckpoint(force: boolean): void {
    if (this.readonly) return;
    const now = Date.now();
    if (!force && now - this.lastCheckpointAt < 1000) return;
    const head = this.chainHead();
    if (!head) return;
    try {
      writeCheckpoint(this.dir, head, new Date(now).toISOString());
      this.lastCheckpointAt = now;
    } catch {
      // A checkpoint that cannot be written weakens tamper evidence but must not stop commits.
    }
  }

  private commitSync(batch: CommitBatch): Change[] {
    this.checkExpectedHeads(batch);
    const head = this.chainHead();
    if (!head) throw new CrwatchError("CRW_STORE_CHAIN_BROKEN", "the chain_head row is missing");
    const now = new Date().toISOString();
    const plan = planCommit(batch, head, now);
    for (const row of plan.changes) this.stmts.insertChange.run(row);
    for (const row of plan.revisions) this.stmts.insertRevision.run(row);
    for (const row of plan.heads) this.stmts.upsertHead.run(row);
    for (const p of plan.problems)
      this.stmts.upsertProblem.run(p.source, p.location, p.fingerprint, p.seq);
    for (const { source, stream, cursor } of batch.cursors)
      this.stmts.upsertStream.run(source, stream, cursor, now);
    for (const { source, location } of batch.resolvedProblems)
      this.stmts.deleteProblem.run(source, location);
    if (plan.changes.length > 0) this.stmts.setChainHead.run(plan.head.lastSeq, plan.head.lastHash);
    return plan.committed;
  }

  private checkExpectedHeads(batch: CommitBatch): void {
    for (const expected of expectedHeads(batch)) {
      const actual = this.stmts.headRevision.get(...refParams(expected.ref))?.revision ?? null;
      if (actual !== expected.revision) throw conflictError(expected, actual);
    }
  }

  private advanceSync(consumer: string, seq: number, letters: NewDeadLetter[]): void {
    const now = new Date().toISOString();
    for (const l of letters)
      this.stmts.addDeadLetter.run(l.consumer, l.seq, l.error, l.attempts, now);
    this.stmts.setConsumerCursor.run(consumer, seq, now);
  }

  private chainHead(): ChainHead | undefined {
    const row = this.stmts.getChainHead.get();
    return row && { lastSeq: row.last_seq, lastHash: row.last_hash };
  }
}
