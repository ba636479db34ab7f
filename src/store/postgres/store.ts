import { createHash } from "node:crypto";
import { hostname } from "node:os";
import pg from "pg";
import type { Change, Revision } from "../../model/change.js";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import { type Ref, refKey } from "../../model/ref.js";
import {
  batchKeys,
  type ChainHead,
  checkHeads,
  expectedHeads,
  planCommit,
} from "../commit-plan.js";
import type { CopiedTable, HistoryExporter, HistoryImporter, RawRow } from "../copy.js";
import { fromSinkRow, isSinkRow, sinkRow } from "../health-rows.js";
import {
  CHANGE_SELECT,
  type ChangeRow,
  changeOf,
  type HeadRow,
  headOf,
  REF_COLUMNS,
  refParams,
  STORED_CHANGE_COLUMNS,
} from "../log-format.js";
import { RefIds } from "../ref-ids.js";
import {
  DEFAULT_SNAPSHOT_EVERY,
  type HeadState,
  type ReplayRow,
  RevisionReader,
  RevisionVerifier,
  type RevisionWalkRow,
  replayAll,
} from "../revisions.js";
import type {
  ChangeQuery,
  CommitBatch,
  ConsumerCursor,
  DeadLetter,
  DeadLetterFilter,
  Fence,
  Head,
  NewDeadLetter,
  OpenProblem,
  Remask,
  ResourceQuery,
  SinkHealthRow,
  SourceHealth,
  Store,
  StoreCapabilities,
  VerifyResult,
} from "../store.js";
import { ChainVerifier, revisionsResult } from "../verify.js";
import { assertEmpty, importTables } from "./copy.js";
import type { CopyType } from "./copy-binary.js";
import { copyInto } from "./copy-in.js";
import { checkFence, PostgresLeases } from "./leases.js";
import { migratePostgres, quoteIdent, schemaVersion } from "./migrations.js";

export interface PostgresStoreOptions {
  url: string;
  schema: string;
  poolSize?: number;
  /** `write` migrates the schema; `read` requires an existing history and changes nothing. */
  mode: "write" | "read";
  /** This process's name in the lease table; `HOST:PID` by default. */
  replica?: string;
  /** How long a replica's lease lasts unrenewed (15 s by default). */
  leaseTtlMs?: number;
  /** A full object every this many revisions (decision 0027); 16 by default. */
  snapshotEvery?: number;
}

/** The channel every store's commits are announced on; the payload names the schema. */
export const COMMIT_CHANNEL = "crwatch_commits";

const INT8_OID = 20;

/**
 * BIGINT comes back from pg as a string (it can exceed 2^53). crwatch's seqs and ids stay far
 * below that, and the hash chain frames numbers and strings differently: they must come
 * back as the JS numbers SQLite returns, or the chain would not verify across dialects.
 * Set on this pool only, not on pg's global parsers.
 */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

export function createPool(url: string, poolSize = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types });
  // An idle connection that the server drops must not crash the process; the next checkout
  // gets a fresh one.
  pool.on("error", () => undefined);
  return pool;
}

export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const pool = createPool(options.url, options.poolSize);
  try {
    const client = await pool.connect();
    try {
      if (options.mode === "write") await migratePostgres(client, options.schema);
      else if ((await schemaVersion(client, options.schema)) === 0) {
        throw new CrwatchError(
          "CRW_STORE_OPEN",
          `no crwatch history in schema ${options.schema} (run \`crwatch serve\` against it first)`,
        );
      }
    } finally {
      client.release();
    }
    const settings = {
      holder: options.replica ?? `${hostname()}:${process.pid}`,
      ttlMs: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
    };
    const every = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    return new PostgresStore(pool, options.schema, options.url, settings, every);
  } catch (err) {
    await pool.end().catch(() => undefined);
    if (err instanceof CrwatchError) throw err;
    throw new CrwatchError(
      "CRW_STORE_OPEN",
      `cannot open the PostgreSQL store: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
}

type Queryable = Pick<pg.PoolClient, "query">;

interface ChainHeadRow {
  last_seq: number;
  last_hash: string;
}

function chainHeadOf(row: ChainHeadRow | undefined): ChainHead | undefined {
  return row && { lastSeq: row.last_seq, lastHash: row.last_hash };
}

/** A revision a commit re-masked, to drop from the read cache. */
interface RemaskedAt {
  refId: number;
  revision: number;
}

const DEFAULT_LIMIT = 1000;
const DEFAULT_LEASE_TTL_MS = 15_000;
const VERIFY_PAGE = 2000;
const COPY_PAGE = 500;
const REF_WHERE = "source = $1 AND grp = $2 AND kind = $3 AND namespace = $4 AND name = $5";
const REMASK_SELECT = "m.object AS remasked, m.content_hash AS remasked_hash";
const REPLAY_SELECT = `c.seq, c.revision, c.type, c.patch, c.content_hash, c.location, ${REMASK_SELECT}`;
/** As REPLAY_SELECT with the snapshot (alias s): a snapshot's own patch is not read (an ADDED's is the whole object). */
const REPLAY_SNAPSHOT_SELECT = `c.seq, c.revision, c.type,
  CASE WHEN s.object IS NULL THEN c.patch ELSE '[]' END AS patch, c.content_hash, c.location, s.object,
  ${REMASK_SELECT}`;
/** A re-masked head compares by its re-masked hash: ingest sees its new masks as unchanged. */
const HEAD_SELECT = `r.id AS ref_id, r.source, r.grp, r.kind, r.namespace, r.name, h.seq,
  h.revision, h.type, coalesce(m.content_hash, h.content_hash) AS content_hash, h.location`;

/** A revision's re-masked copy (alias m; migration 6, decision 0028), usually none. */
function remaskJoin(t: (table: string) => string, seq = "c.seq"): string {
  return `LEFT JOIN ${t("remasks")} m ON m.seq = ${seq}`;
}

/** Each ref joined with its head: the resource change with the highest revision. */
function headsFrom(t: (table: string) => string): string {
  return `${t("refs")} r CROSS JOIN LATERAL (SELECT seq, revision, type, content_hash, location
    FROM ${t("changes")} WHERE ref_id = r.id AND revision IS NOT NULL
    ORDER BY revision DESC LIMIT 1) h ${remaskJoin(t, "h.seq")}`;
}

/** The column types of STORED_CHANGE_COLUMNS (migration 5), for the binary COPY. */
const CHANGE_TYPES: readonly CopyType[] = STORED_CHANGE_COLUMNS.map((column) =>
  column === "seq" || column === "ref_id"
    ? "int8"
    : column === "revision" || column === "prev_revision"
      ? "int4"
      : "text",
);
const SNAPSHOT_TYPES: readonly CopyType[] = ["int8", "text"];

/** PostgreSQL takes at most 65535 parameters per statement. */
const MAX_PARAMS = 65_000;

/**
 * Multi-row `INSERT … VALUES (…), (…)` in as few statements as the parameter limit allows:
 * the upserts of a commit (problems, stream cursors), which COPY cannot do. The log's own
 * rows go by COPY (copy-in.ts). (An `unnest` of one array per column was three times
 * slower: pg escapes every element of a large text array on the client, and the server
 * parses it back.)
 */
async function insertValues<R, C extends string>(
  client: Queryable,
  table: string,
  columns: readonly C[],
  rows: readonly R[],
  tail = "",
  value: (row: R, column: C, index: number) => unknown = (row, column) =>
    (row as Record<string, unknown>)[column],
): Promise<void> {
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
  for (let at = 0; at < rows.length; at += perStatement) {
    const end = Math.min(rows.length, at + perStatement);
    const params: unknown[] = new Array((end - at) * columns.length);
    let n = 0;
    for (let i = at; i < end; i++) {
      const row = rows[i] as R;
      for (const column of columns) params[n++] = value(row, column, i);
    }
    await client.query(
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${placeholders(columns.length, end - at)} ${tail}`,
      params,
    );
  }
}

/** `($1, $2), ($3, $4)` for `count` rows of `width` columns. */
function placeholders(width: number, count: number): string {
  const rows: string[] = new Array(count);
  for (let r = 0, n = 1; r < count; r++) {
    const row: string[] = new Array(width);
    for (let c = 0; c < width; c++) row[c] = `$${n++}`;
    rows[r] = `(${row.join(", ")})`;
  }
  return rows.join(", ");
}

function columnArrays<R>(rows: readonly R[], columns: readonly (keyof R & string)[]): unknown[][] {
  return columns.map((c) => rows.map((r) => r[c]));
}

/** The last of each key: one upsert statement must not touch the same row twice. */
function lastByKey<R>(rows: readonly R[], key: (row: R) => string): R[] {
  return [...new Map(rows.map((r) => [key(r), r])).values()];
}

/** `%` and `_` in the needle are plain characters, as in SQLite's dialect. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function deadLetterWhere(filter: DeadLetterFilter = {}): { where: string; params: unknown[] } {
  const params: unknown[] = [];
  const terms: string[] = [];
  if (filter.consumer !== undefined) terms.push(`consumer = $${params.push(filter.consumer)}`);
  if (filter.state !== undefined) terms.push(`state = $${params.push(filter.state)}`);
  if (filter.ids !== undefined) terms.push(`id = ANY($${params.push(filter.ids)}::bigint[])`);
  return { where: terms.length ? terms.join(" AND ") : "TRUE", params };
}

/**
 * Only the filters a query has become SQL terms, so the planner sees a plain
 * `ref_search LIKE '%…%'` it can answer from the trigram index.
 */
export function readChangesQuery(
  t: (table: string) => string,
  query: ChangeQuery,
): { text: string; params: unknown[] } {
  const params: unknown[] = [query.afterSeq ?? 0];
  const terms = ["c.seq > $1"];
  const add = (clause: (n: number) => string, value: unknown) => {
    if (value === undefined) return;
    terms.push(clause(params.push(value)));
  };
  add((n) => `c.seq < $${n}`, query.beforeSeq);
  if (query.types?.length) add((n) => `c.type = ANY($${n}::text[])`, query.types);
  add((n) => `r.source = $${n}`, query.source);
  add((n) => `r.grp = $${n}`, query.group);
  add((n) => `r.kind = $${n}`, query.kind);
  add((n) => `r.namespace = $${n}`, query.namespace);
  add((n) => `r.name = $${n}`, query.name);
  add((n) => `(c.actor::jsonb ->> 'name') = $${n}`, query.actor);
  add((n) => `c.committed_at >= $${n}`, query.committedFrom);
  add((n) => `c.committed_at < $${n}`, query.committedTo);
  if (query.severities?.length) {
    add(
      (n) => `EXISTS (SELECT 1 FROM jsonb_array_elements(c.findings::jsonb) AS f
         WHERE f ->> 'severity' = ANY($${n}::text[]))`,
      query.severities,
    );
  }
  if (query.refContains) {
    add((n) => `r.ref_search LIKE '%' || lower($${n}::text) || '%'`, escapeLike(query.refContains));
  }
  const limit = params.push(Math.max(0, query.limit ?? DEFAULT_LIMIT));
  const order = query.order === "desc" ? "DESC" : "ASC";
  const text = `SELECT ${CHANGE_SELECT} FROM ${t("changes")} c JOIN ${t("refs")} r ON r.id = c.ref_id
    WHERE ${terms.join(" AND ")} ORDER BY c.seq ${order} LIMIT $${limit}`;
  return { text, params };
}

/** Current resources: each ref's head; the row-value comparison pages in ref order. */
function listResourcesQuery(
  t: (table: string) => string,
  query: ResourceQuery,
): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const terms: string[] = [];
  const values = [query.source, query.group, query.kind, query.namespace, query.name];
  REF_COLUMNS.forEach((column, i) => {
    if (values[i] !== undefined) terms.push(`r.${column} = $${params.push(values[i])}`);
  });
  if (!query.includeDeleted) terms.push("h.type <> 'DELETED'");
  if (query.afterRef) {
    const ns = refParams(query.afterRef).map((v) => `$${params.push(v)}`);
    const cols = REF_COLUMNS.map((c) => `r.${c} COLLATE "C"`);
    terms.push(`(${cols.join(", ")}) > (${ns.map((n) => `${n} COLLATE "C"`).join(", ")})`);
  }
  const limit = params.push(Math.max(0, query.limit ?? DEFAULT_LIMIT));
  const order = REF_COLUMNS.map((c) => `r.${c} COLLATE "C"`).join(", ");
  const text = `SELECT ${HEAD_SELECT} FROM ${headsFrom(t)}
    ${terms.length ? `WHERE ${terms.join(" AND ")}` : ""} ORDER BY ${order} LIMIT $${limit}`;
  return { text, params };
}

/** The PostgreSQL dialect: runs the dialect-neutral commit plan, serialized per store. */
export class PostgresStore implements Store, HistoryExporter, HistoryImporter {
  readonly capabilities: StoreCapabilities = {
    multiWriter: true,
    crossProcessNotify: true,
    local: false,
  };
  readonly schema: string;
  /** Replica leases; a commit carrying `fences` is checked against them. */
  readonly leases: PostgresLeases;
  private readonly pool: pg.Pool;
  private readonly t: (table: string) => string;
  private readonly watchers = new Set<pg.Client>();
  private readonly url: string;
  private closed = false;
  private readonly refIds = new RefIds();
  private readonly revisions: RevisionReader;

  constructor(
    pool: pg.Pool,
    schema: string,
    url: string,
    settings: { holder: string; ttlMs: number },
    private readonly snapshotEvery: number = DEFAULT_SNAPSHOT_EVERY,
  ) {
    this.pool = pool;
    this.url = url;
    this.schema = schema;
    const s = quoteIdent(schema);
    this.t = (table) => `${s}.${table}`;
    this.leases = new PostgresLeases(pool, this.t("leases"), settings);
    this.revisions = new RevisionReader(
      {
        fromSnapshot: (refId, revision) => this.rowsFromSnapshot(refId, revision),
        after: async (refId, after, revision) =>
          (
            await this.pool.query<ReplayRow>(
              `SELECT ${REPLAY_SELECT}, NULL AS object FROM ${this.t("changes")} c
                 ${remaskJoin(this.t)}
               WHERE c.ref_id = $1 AND c.revision > $2 AND c.revision <= $3 ORDER BY c.revision`,
              [refId, after, revision],
            )
          ).rows,
      },
      snapshotEvery,
    );
  }

  /**
   * One round trip: the revision (the latest when undefined), the latest snapshot at or
   * before it (a deletion needs none), and the rows from that snapshot through it.
   */
  private async rowsFromSnapshot(
    refId: number,
    revision: number | undefined,
  ): Promise<ReplayRow[]> {
    const c = this.t("changes");
    const text = `WITH target AS (
         SELECT coalesce($2::integer, (SELECT max(revision) FROM ${c} WHERE ref_id = $1)) AS revision),
       base AS (
         SELECT coalesce(
           (SELECT revision FROM ${c} WHERE ref_id = $1 AND type = 'DELETED'
              AND revision = (SELECT revision FROM target)),
           (SELECT c.revision FROM ${c} c JOIN ${this.t("snapshots")} s ON s.seq = c.seq
            WHERE c.ref_id = $1 AND c.revision <= (SELECT revision FROM target)
            ORDER BY c.revision DESC LIMIT 1),
           0) AS revision)
       SELECT ${REPLAY_SNAPSHOT_SELECT} FROM ${c} c
         LEFT JOIN ${this.t("snapshots")} s ON s.seq = c.seq AND c.revision = (SELECT revision FROM base)
         ${remaskJoin(this.t)}
       WHERE c.ref_id = $1 AND c.revision >= (SELECT revision FROM base)
         AND c.revision <= (SELECT revision FROM target)
       ORDER BY c.revision`;
    // Prepared (by name, once per connection): planning this query cost the server ~150 µs
    // on every read, and ingest reads once per object not in its cache.
    const { rows } = await this.pool.query<ReplayRow>({
      name: preparedName("replay-from-snapshot", text),
      text,
      values: [refId, revision ?? null],
    });
    return rows;
  }

  /** A ref's id, from memory or its row; undefined when the store has never seen it. */
  private async findRefId(ref: Ref): Promise<number | undefined> {
    const known = this.refIds.get(refKey(ref));
    if (known !== undefined) return known;
    const text = `SELECT id FROM ${this.t("refs")} WHERE ${REF_WHERE}`;
    const { rows } = await this.pool.query<{ id: number }>({
      name: preparedName("ref-id", text),
      text,
      values: refParams(ref),
    });
    return rows[0]?.id;
  }

  async commit(batch: CommitBatch): Promise<Change[]> {
    try {
      // BEGIN and the chain head's lock in one round trip (a simple query of two statements).
      const { committed, ids, remasked } = await this.transaction(
        (client, locked) => this.commitIn(client, batch, locked as ChainHeadRow[]),
        `BEGIN; ${this.chainHeadQuery("FOR UPDATE")}`,
      );
      this.refIds.remember(ids);
      for (const { refId, revision } of remasked) this.revisions.forget(refId, revision);
      return committed;
    } catch (err) {
      if (err instanceof CrwatchError) throw err;
      throw new CrwatchError(
        "CRW_STORE_WRITE",
        `commit of ${batch.changes.length} change(s) failed: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  async readChanges(query: ChangeQuery): Promise<Change[]> {
    const { text, params } = readChangesQuery(this.t, query);
    const { rows } = await this.pool.query<ChangeRow>(text, params);
    return rows.map(changeOf);
  }

  async listResources(query: ResourceQuery): Promise<Revision[]> {
    const { text, params } = listResourcesQuery(this.t, query);
    const { rows } = await this.pool.query<HeadRow>(text, params);
    const out: Revision[] = [];
    for (const head of rows) out.push(await this.revisions.head(head));
    return out;
  }

  async getMeta(key: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ value: string }>(
      `SELECT value FROM ${this.t("store_meta")} WHERE key = $1`,
      [key],
    );
    return rows[0]?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.setMetaIn(this.pool, key, value);
  }

  private async setMetaIn(client: Queryable, key: string, value: string): Promise<void> {
    await client.query(
      `INSERT INTO ${this.t("store_meta")} (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [key, value],
    );
  }

  /**
   * The server keeps its own files sound (checksums, WAL); the chain head row and the log
   * are checked by `verify`. Nothing here keeps a checkpoint outside the database yet: export
   * one with `crwatch verify --export-checkpoint` to catch a restored or wiped database.
   */
  async checkBeforeWriting(): Promise<void> {}

  async getChange(seq: number): Promise<Change | undefined> {
    const { rows } = await this.pool.query<ChangeRow>(
      `SELECT ${CHANGE_SELECT} FROM ${this.t("changes")} c JOIN ${this.t("refs")} r
       ON r.id = c.ref_id WHERE c.seq = $1`,
      [seq],
    );
    return rows[0] && changeOf(rows[0]);
  }

  async lastSeq(): Promise<number> {
    const { rows } = await this.pool.query<{ seq: number | null }>(
      `SELECT max(seq) AS seq FROM ${this.t("changes")}`,
    );
    return rows[0]?.seq ?? 0;
  }

  async getRevision(ref: Ref, revision?: number): Promise<Revision | undefined> {
    const refId = await this.findRefId(ref);
    return refId === undefined ? undefined : this.revisions.read(refId, ref, revision);
  }

  async listRevisions(ref: Ref): Promise<Revision[]> {
    const refId = await this.findRefId(ref);
    if (refId === undefined) return [];
    const { rows } = await this.pool.query<ReplayRow>(
      `SELECT ${REPLAY_SNAPSHOT_SELECT} FROM ${this.t("changes")} c
         LEFT JOIN ${this.t("snapshots")} s ON s.seq = c.seq ${remaskJoin(this.t)}
       WHERE c.ref_id = $1 AND c.revision IS NOT NULL ORDER BY c.revision`,
      [refId],
    );
    return replayAll(ref, rows);
  }

  /**
   * Pages through the log in seq order inside one REPEATABLE READ transaction, so the head
   * and every page are one snapshot even while replicas keep committing.
   */
  async verify(): Promise<VerifyResult> {
    return this.transaction(async (client) => {
      const verifier = new ChainVerifier();
      let after = 0;
      for (;;) {
        // LEFT JOIN: a change whose ref row is gone fails its hash instead of vanishing.
        const { rows } = await client.query<ChangeRow>(
          `SELECT ${CHANGE_SELECT} FROM ${this.t("changes")} c
             LEFT JOIN ${this.t("refs")} r ON r.id = c.ref_id
           WHERE c.seq > $1 ORDER BY c.seq LIMIT ${VERIFY_PAGE}`,
          [after],
        );
        if (!rows.every((row) => verifier.feed(row)) || rows.length < VERIFY_PAGE) break;
        after = Number(rows[rows.length - 1]?.seq);
      }
      const chain = verifier.result(await this.chainHead(client, ""));
      if (!chain.ok) return chain;
      const revisions = await this.verifyRevisions(client);
      const { rows } = await client.query<{ n: number; m: number }>(
        `SELECT (SELECT count(*)::int FROM ${this.t("snapshots")}) AS n,
           (SELECT count(*)::int FROM ${this.t("remasks")}) AS m`,
      );
      return revisionsResult(chain, revisions, rows[0]?.n ?? 0, rows[0]?.m ?? 0);
    }, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  }

  /** Every resource change in (ref, revision) order, page by page, rebuilt and checked. */
  private async verifyRevisions(client: Queryable): Promise<RevisionVerifier> {
    const revisions = new RevisionVerifier();
    for (let after = [0, 0]; ; ) {
      const { rows } = await client.query<RevisionWalkRow>(
        `SELECT c.ref_id, ${REPLAY_SELECT}, c.prev_revision, s.object, r.source, r.grp, r.kind,
           r.namespace, r.name
         FROM ${this.t("changes")} c LEFT JOIN ${this.t("snapshots")} s ON s.seq = c.seq
           LEFT JOIN ${this.t("refs")} r ON r.id = c.ref_id ${remaskJoin(this.t)}
         WHERE c.revision IS NOT NULL AND (c.ref_id, c.revision) > ($1, $2)
         ORDER BY c.ref_id, c.revision LIMIT ${VERIFY_PAGE}`,
        after,
      );
      if (!rows.every((row) => revisions.feed(row)) || rows.length < VERIFY_PAGE) break;
      const last = rows[rows.length - 1] as RevisionWalkRow;
      after = [Number(last.ref_id), Number(last.revision)];
    }
    return revisions;
  }

  async loadHeads(source: string): Promise<Head[]> {
    const { rows } = await this.pool.query<HeadRow>(
      `SELECT ${HEAD_SELECT} FROM ${headsFrom(this.t)} WHERE r.source = $1
       ORDER BY r.grp COLLATE "C", r.kind COLLATE "C", r.namespace COLLATE "C", r.name COLLATE "C"`,
      [source],
    );
    return rows.map(headOf);
  }

  async getSourceCursors(source: string): Promise<Record<string, string>> {
    const { rows } = await this.pool.query<{ stream: string; cursor: string }>(
      `SELECT stream, cursor FROM ${this.t("source_streams")} WHERE source = $1 ORDER BY stream COLLATE "C"`,
      [source],
    );
    return Object.fromEntries(rows.map((r) => [r.stream, r.cursor]));
  }

  async setSourceHealth(health: SourceHealth): Promise<void> {
    const { source, status, message, updatedAt, attempts } = health;
    await this.pool.query(
      `INSERT INTO ${this.t("source_health")} (source, status, message, updated_at, attempts)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (source) DO UPDATE SET status = excluded.status, message = excluded.message,
         updated_at = excluded.updated_at, attempts = excluded.attempts`,
      [source, status, message, updatedAt, attempts ?? 0],
    );
  }

  async listSourceHealth(): Promise<SourceHealth[]> {
    const { rows } = await this.pool.query<SourceHealth>(
      `SELECT source, status, message, updated_at AS "updatedAt", attempts
       FROM ${this.t("source_health")} ORDER BY source COLLATE "C"`,
    );
    return rows.map((r) => ({ ...r })).filter((row) => !isSinkRow(row));
  }

  async setSinkHealth(health: SinkHealthRow): Promise<void> {
    await this.setSourceHealth(sinkRow(health));
  }

  async listSinkHealth(): Promise<SinkHealthRow[]> {
    const { rows } = await this.pool.query<SourceHealth>(
      `SELECT source, status, message, updated_at AS "updatedAt", attempts
       FROM ${this.t("source_health")} WHERE source LIKE 'sink:%' ORDER BY source COLLATE "C"`,
    );
    return rows.map(fromSinkRow);
  }

  async openProblems(source: string): Promise<OpenProblem[]> {
    const { rows } = await this.pool.query<OpenProblem>(
      `SELECT location, fingerprint, seq FROM ${this.t("source_problems")}
       WHERE source = $1 ORDER BY location COLLATE "C"`,
      [source],
    );
    return rows.map((r) => ({ ...r }));
  }

  async getConsumerCursor(consumer: string): Promise<number> {
    const { rows } = await this.pool.query<{ seq: number }>(
      `SELECT seq FROM ${this.t("consumer_cursors")} WHERE consumer = $1`,
      [consumer],
    );
    return rows[0]?.seq ?? 0;
  }

  async setConsumerCursor(consumer: string, seq: number): Promise<void> {
    await this.setCursorIn(this.pool, consumer, seq, new Date().toISOString());
  }

  async advanceConsumer(
    consumer: string,
    seq: number,
    letters: NewDeadLetter[],
    fences: Fence[] = [],
  ): Promise<void> {
    await this.transaction(async (client) => {
      for (const fence of fences) await checkFence(client, this.t("leases"), fence);
      const now = new Date().toISOString();
      if (letters.length > 0) {
        const columns = ["consumer", "seq", "error", "attempts"] as const;
        await client.query(
          `INSERT INTO ${this.t("dead_letters")} (consumer, seq, error, attempts, created_at)
           SELECT c, s, e, a, $5 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::integer[])
             WITH ORDINALITY AS l(c, s, e, a, i) ORDER BY i`,
          [...columnArrays(letters, [...columns]), now],
        );
      }
      await this.setCursorIn(client, consumer, seq, now);
    });
  }

  async listConsumerCursors(): Promise<ConsumerCursor[]> {
    const { rows } = await this.pool.query<ConsumerCursor>(
      `SELECT consumer, seq, updated_at AS "updatedAt" FROM ${this.t("consumer_cursors")}
       ORDER BY consumer COLLATE "C"`,
    );
    return rows.map((r) => ({ ...r }));
  }

  async listDeadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]> {
    const { where, params } = deadLetterWhere(filter);
    const { rows } = await this.pool.query<DeadLetter>(
      `SELECT id, consumer, seq, error, attempts, created_at AS "createdAt", state
       FROM ${this.t("dead_letters")} WHERE ${where} ORDER BY id`,
      params,
    );
    return rows.map((r) => ({ ...r }));
  }

  async requeueDeadLetters(filter: DeadLetterFilter): Promise<number> {
    const { where, params } = deadLetterWhere(filter);
    const result = await this.pool.query(
      `UPDATE ${this.t("dead_letters")} SET state = 'retry' WHERE ${where}`,
      params,
    );
    return result.rowCount ?? 0;
  }

  async failDeadLetter(id: number, error: string, attempts: number): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.t("dead_letters")} SET state = 'dead', error = $1, attempts = $2 WHERE id = $3`,
      [error, attempts, id],
    );
  }

  async removeDeadLetters(filter: DeadLetterFilter): Promise<number> {
    const { where, params } = deadLetterWhere(filter);
    const result = await this.pool.query(
      `DELETE FROM ${this.t("dead_letters")} WHERE ${where}`,
      params,
    );
    return result.rowCount ?? 0;
  }

  /** Pages in key order (OFFSET paging: simple, and export from PostgreSQL is rare). */
  async *exportRows(table: CopiedTable): AsyncIterable<RawRow[]> {
    for (let offset = 0; ; offset += COPY_PAGE) {
      const { rows } = await this.pool.query<RawRow>(
        `SELECT ${table.columns.join(", ")} FROM ${this.t(table.name)}
         ORDER BY ${table.order.join(", ")} LIMIT ${COPY_PAGE} OFFSET ${offset}`,
      );
      if (rows.length > 0) yield rows.map((r) => ({ ...r }));
      if (rows.length < COPY_PAGE) return;
    }
  }

  /**
   * Takes a whole history into this empty store in one transaction: a copy that fails half
   * way leaves the store empty. Rows go in as JSON (json_populate_recordset), so each column
   * keeps its exact text or number whatever table it is.
   */
  async importHistory(
    tables: readonly CopiedTable[],
    from: HistoryExporter,
  ): Promise<Record<string, number>> {
    return this.transaction(async (client) => {
      await this.chainHead(client, "FOR UPDATE");
      const table = this.t;
      await assertEmpty(client, table, tables);
      return importTables(client, table, tables, from);
    }).catch((err: unknown) => {
      if (err instanceof CrwatchError) throw err;
      throw new CrwatchError(
        "CRW_STORE_MIGRATION",
        `the copy failed and was rolled back: ${errorMessage(err)}`,
        { cause: err },
      );
    });
  }

  /**
   * LISTEN on a connection of its own (a pooled one would be handed to other queries): every
   * commit of this schema, from any process, reaches `listener` when it commits. A dropped
   * connection is reported as one last call, so the reader catches up by reading the log.
   */
  async watchCommits(listener: (lastSeq: number) => void): Promise<() => Promise<void>> {
    const client = new pg.Client({ connectionString: this.url });
    client.on("error", () => listener(Number.NaN));
    client.on("notification", (message) => {
      const [schema, seq] = (message.payload ?? "").split(" ");
      if (schema === this.schema) listener(Number(seq));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${COMMIT_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new CrwatchError("CRW_STORE_OPEN", `cannot listen for commits: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    this.watchers.add(client);
    return async () => {
      if (this.watchers.delete(client)) await client.end().catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const client of this.watchers) await client.end().catch(() => undefined);
    this.watchers.clear();
    await this.pool.end();
  }

  /**
   * Runs `use` in one transaction on one pooled connection. `begin` may be several statements
   * without parameters, sent in one round trip; `use` gets the rows of the last one.
   */
  async transaction<T>(
    use: (client: pg.PoolClient, began: pg.QueryResultRow[]) => Promise<T>,
    begin = "BEGIN",
  ): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      // pg answers a query of several statements with one result each.
      const began: pg.QueryResult | pg.QueryResult[] = await client.query(begin);
      const last = Array.isArray(began) ? began[began.length - 1] : began;
      const result = await use(client, last?.rows ?? []);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      // A connection that cannot even roll back is dropped rather than reused.
      await client.query("ROLLBACK").catch((rollback: Error) => {
        broken = rollback;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Locking the chain_head row first makes concurrent commits (other connections, other
   * replicas) queue: each reads the head the previous one wrote, so seqs are assigned
   * gap-free in commit order, and the expected heads are checked against committed state.
   */
  private async commitIn(
    client: pg.PoolClient,
    batch: CommitBatch,
    locked: ChainHeadRow[],
  ): Promise<{ committed: Change[]; ids: Map<string, number>; remasked: RemaskedAt[] }> {
    const head = chainHeadOf(locked[0]);
    if (!head) throw new CrwatchError("CRW_STORE_CHAIN_BROKEN", "the chain_head row is missing");
    for (const fence of batch.fences ?? []) await checkFence(client, this.t("leases"), fence);
    // Before the changes: a change of the same ref later in the batch was diffed against it.
    const remasked = await this.remaskHeads(client, batch.remasks ?? []);
    // Each change's ref key, once: the steps below all look refs up by it.
    const keys = batchKeys(batch);
    const ids = await this.resolveRefs(client, batch, keys);
    const heads = await this.currentHeads(client, batch, keys, ids);
    const now = new Date().toISOString();
    const plan = planCommit(batch, head, now, { snapshotEvery: this.snapshotEvery, heads, keys });
    const refIds = keys.map((key) => ids.get(key) as number);
    await this.insertRows(client, plan.changes, refIds, plan.snapshots);
    await this.upsertProblems(client, plan.problems);
    await this.upsertStreams(client, batch.cursors, now);
    await this.resolveProblems(client, batch.resolvedProblems);
    for (const { key, value } of batch.meta ?? []) await this.setMetaIn(client, key, value);
    if (plan.changes.length > 0) {
      // One statement: the new head, and the notice that listeners get when (and only if)
      // the transaction commits.
      await client.query(
        `WITH moved AS (UPDATE ${this.t("chain_head")} SET last_seq = $1, last_hash = $2 WHERE id = 1)
         SELECT pg_notify($3, $4)`,
        [
          plan.head.lastSeq,
          plan.head.lastHash,
          COMMIT_CHANNEL,
          `${this.schema} ${plan.head.lastSeq}`,
        ],
      );
    }
    return { committed: plan.committed, ids, remasked };
  }

  /** Each re-masked copy beside its head's change row, while that revision is the live head. */
  private async remaskHeads(client: Queryable, remasks: readonly Remask[]): Promise<RemaskedAt[]> {
    const done: RemaskedAt[] = [];
    for (const { ref, revision, objectJson, contentHash } of remasks) {
      const refId = await this.findRefId(ref);
      if (refId === undefined) continue;
      const { rows } = await client.query<{ seq: string }>(
        `INSERT INTO ${this.t("remasks")} (seq, object, content_hash)
         SELECT h.seq, $3, $4 FROM (SELECT seq, revision, type FROM ${this.t("changes")}
           WHERE ref_id = $1 AND revision IS NOT NULL ORDER BY revision DESC LIMIT 1) h
         WHERE h.revision = $2 AND h.type <> 'DELETED'
         ON CONFLICT (seq) DO UPDATE SET object = excluded.object, content_hash = excluded.content_hash
         RETURNING seq`,
        [refId, revision, objectJson, contentHash],
      );
      if (rows.length > 0) done.push({ refId, revision });
    }
    return done;
  }

  private chainHeadQuery(lock: string): string {
    return `SELECT last_seq, last_hash FROM ${this.t("chain_head")} WHERE id = 1 ${lock}`;
  }

  private async chainHead(client: Queryable, lock: string): Promise<ChainHead | undefined> {
    const { rows } = await client.query<ChainHeadRow>(this.chainHeadQuery(lock));
    return chainHeadOf(rows[0]);
  }

  /**
   * Every ref of the batch as an id, in one statement for those not known yet: existing rows
   * are found, missing ones inserted. Commits hold the chain head's lock, so no other crwatch
   * commit inserts refs meanwhile.
   */
  private async resolveRefs(
    client: Queryable,
    batch: CommitBatch,
    keys: readonly string[],
  ): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    const missing: Ref[] = [];
    const missingKeys: string[] = [];
    batch.changes.forEach(({ ref }, i) => {
      const key = keys[i] as string;
      if (ids.has(key)) return;
      const known = this.refIds.get(key);
      ids.set(key, known ?? 0);
      if (known === undefined) {
        missing.push(ref);
        missingKeys.push(key);
      }
    });
    if (missing.length === 0) return ids;
    const refs = this.t("refs");
    const match = (a: string, b: string) =>
      REF_COLUMNS.map((c) => `${a}.${c} = ${b}.${c}`).join(" AND ");
    const { rows } = await client.query<{ i: number; id: number }>(
      `WITH e AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
           WITH ORDINALITY AS e(source, grp, kind, namespace, name, i)),
       added AS (
         INSERT INTO ${refs} (source, grp, kind, namespace, name)
           SELECT source, grp, kind, namespace, name FROM e ORDER BY i
         ON CONFLICT DO NOTHING RETURNING id, source, grp, kind, namespace, name)
       SELECT e.i::integer AS i, coalesce(r.id, a.id) AS id FROM e
         LEFT JOIN ${refs} r ON ${match("r", "e")}
         LEFT JOIN added a ON ${match("a", "e")}
       ORDER BY e.i`,
      REF_COLUMNS.map((_, i) => missing.map((ref) => refParams(ref)[i])),
    );
    for (const row of rows) ids.set(missingKeys[row.i - 1] as string, Number(row.id));
    return ids;
  }

  /**
   * The head of each ref the batch changes, in one query, checked against what its first
   * change expects (the first mismatch in batch order is reported).
   */
  private async currentHeads(
    client: Queryable,
    batch: CommitBatch,
    batchKeys: readonly string[],
    ids: Map<string, number>,
  ): Promise<Map<string, HeadState>> {
    const expected = expectedHeads(batch, batchKeys);
    const heads = new Map<string, HeadState>();
    if (expected.length === 0) return heads;
    const keys = expected.map((e) => e.key);
    const { rows } = await client.query<{ i: number; revision: number; type: string }>(
      `SELECT e.i::integer AS i, h.revision, h.type
       FROM unnest($1::bigint[]) WITH ORDINALITY AS e(ref_id, i)
       CROSS JOIN LATERAL (SELECT revision, type FROM ${this.t("changes")}
         WHERE ref_id = e.ref_id AND revision IS NOT NULL ORDER BY revision DESC LIMIT 1) h`,
      [keys.map((k) => ids.get(k))],
    );
    for (const row of rows) {
      const key = keys[row.i - 1] as string;
      heads.set(key, { revision: row.revision, deleted: row.type === "DELETED" });
    }
    checkHeads(expected, heads);
    return heads;
  }

  private async insertRows(
    client: Queryable,
    changes: ChangeRow[],
    refIds: readonly number[],
    snapshots: { seq: number; object: string }[],
  ): Promise<void> {
    if (changes.length === 0) return;
    // The ref's id in place of its five columns (StoredChangeRow), without a copy of each row.
    await copyInto(client, this.t("changes"), STORED_CHANGE_COLUMNS, {
      rows: changes,
      types: CHANGE_TYPES,
      value: (row, c, i) => {
        const column = STORED_CHANGE_COLUMNS[c] as (typeof STORED_CHANGE_COLUMNS)[number];
        return column === "ref_id" ? (refIds[i] as number) : row[column];
      },
    });
    if (snapshots.length > 0) {
      await copyInto(client, this.t("snapshots"), ["seq", "object"], {
        rows: snapshots,
        types: SNAPSHOT_TYPES,
        value: (row, c) => (c === 0 ? row.seq : row.object),
      });
    }
  }

  private async upsertProblems(
    client: Queryable,
    problems: { source: string; location: string; fingerprint: string; seq: number }[],
  ): Promise<void> {
    if (problems.length === 0) return;
    const latest = lastByKey(problems, (p) => JSON.stringify([p.source, p.location]));
    const columns = ["source", "location", "fingerprint", "seq"] as const;
    await insertValues(
      client,
      this.t("source_problems"),
      columns,
      latest,
      "ON CONFLICT (source, location) DO UPDATE SET fingerprint = excluded.fingerprint, seq = excluded.seq",
    );
  }

  private async upsertStreams(
    client: Queryable,
    cursors: CommitBatch["cursors"],
    now: string,
  ): Promise<void> {
    if (cursors.length === 0) return;
    const latest = lastByKey(cursors, (c) => JSON.stringify([c.source, c.stream]));
    const rows = latest.map((c) => ({ ...c, updated_at: now }));
    const columns = ["source", "stream", "cursor", "updated_at"] as const;
    await insertValues(
      client,
      this.t("source_streams"),
      columns,
      rows,
      "ON CONFLICT (source, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
    );
  }

  private async resolveProblems(
    client: Queryable,
    resolved: CommitBatch["resolvedProblems"],
  ): Promise<void> {
    if (resolved.length === 0) return;
    await client.query(
      `DELETE FROM ${this.t("source_problems")} WHERE (source, location) IN
         (SELECT * FROM unnest($1::text[], $2::text[]))`,
      columnArrays(resolved, ["source", "location"]),
    );
  }

  private async setCursorIn(
    client: Queryable,
    consumer: string,
    seq: number,
    now: string,
  ): Promise<void> {
    await client.query(
      `INSERT INTO ${this.t("consumer_cursors")} (consumer, seq, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
      [consumer, seq, now],
    );
  }
}

/**
 * A prepared statement's name: the pg client prepares a named query once per connection
 * and refuses one name for two texts, so the name carries a hash of the text (the schema
 * is part of it).
 */
function preparedName(label: string, text: string): string {
  let name = preparedNames.get(text);
  if (name === undefined) {
    name = `crwatch-${label}-${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
    preparedNames.set(text, name);
  }
  return name;
}
const preparedNames = new Map<string, string>();
