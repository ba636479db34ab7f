import { performance } from "node:perf_hooks";
import type pg from "pg";
import pino from "pino";
import { createMasker } from "../src/core/mask.js";
import { Ingest } from "../src/ingest/pipeline.js";
import type { NewChange } from "../src/model/change.js";
import type { CopyType, CopyValue } from "../src/store/postgres/copy-binary.js";
import { copyInto } from "../src/store/postgres/copy-in.js";
import { openPostgresStore, type PostgresStore } from "../src/store/postgres/store.js";
import { postgresUrl } from "../test/helpers.js";
import { dropSchema, pgQuery } from "../test/postgres.js";
import { cpuMsSince, mainThreadCpuMs } from "./cpu.js";
import { benchWorkers, buildSetup } from "./ingest.js";
import { namedUrl, serverCpuMs, usPer } from "./pg-cpu.js";
import { benchInput, inputTexts, offerAll } from "./pg-feed.js";

/** Smaller than the SQLite scenario by default: a network round trip per commit. */
const CHANGES = Number(process.env.BENCH_PG_CHANGES ?? 20_000);

/**
 * Ingest into PostgreSQL beside a raw multi-row INSERT and a raw COPY of the same rows
 * (refs, changes, snapshots) into an identical schema, in transactions of the same size,
 * on the same server with the same durability (the server's synchronous_commit), in the
 * same run. The source hands JSON text by default (BENCH_PG_INPUT, pg-feed.ts).
 */
export async function postgresIngestScenario(): Promise<Record<string, unknown>> {
  const schema = `crw_bench_${process.pid}`;
  const rawSchema = `${schema}_raw`;
  const workers = benchWorkers();
  try {
    const app = `${schema}_ingest`;
    const store = await openPostgresStore({ url: namedUrl(app), schema, mode: "write" });
    const ingest = new Ingest({
      store,
      masker: createMasker({ key: Buffer.from("bench-key") }),
      log: pino({ level: "silent" }),
      ...buildSetup({ rules: false, workers }),
    });
    let commits = 0;
    ingest.onCommit(() => {
      commits++;
    });
    const input = benchInput();
    const texts = input === "text" ? inputTexts(CHANGES) : null;
    const server0 = await serverCpuMs(app);
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpuMs();
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    await offerAll(ingest, texts, CHANGES);
    await ingest.idle();
    const seconds = (performance.now() - t0) / 1000;
    const elu = performance.eventLoopUtilization(elu0);
    const clientMs = cpuMsSince(cpu0);
    const mainMs = mainThreadCpuMs() - main0;
    await ingest.close();
    const serverMs = minus(await serverCpuMs(app), server0);
    const committed = await store.lastSeq();
    const phases = ingest.stats();
    await store.close();
    const [size] = await pgQuery<{ bytes: string }>(
      `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [schema],
    );
    const dbBytes = Number(size?.bytes ?? 0);
    const perCommit = Math.max(1, Math.round(committed / Math.max(1, commits)));
    const storeOnly = await recommit(schema, `${schema}_store`, perCommit);
    const baseline = await rawBaseline(schema, rawSchema, perCommit, "insert");
    const baselineCopy = await rawBaseline(schema, `${rawSchema}_copy`, perCommit, "copy");
    const [sync] = await pgQuery<{ synchronous_commit: string }>("SHOW synchronous_commit");
    return {
      scenario: "ingest-postgres",
      buildWorkers: workers,
      input,
      changes: committed,
      changesPerSecond: Math.round(committed / seconds),
      meanChangesPerCommit: perCommit,
      perChangeUs: {
        build: Math.round((phases.buildMs * 1000) / Math.max(1, phases.changes)),
        commit: Math.round((phases.commitMs * 1000) / Math.max(1, phases.changes)),
      },
      // CPU, not wall: this process (all its threads) and the server's backends for it.
      cpuUsPerChange: {
        client: usPer(clientMs, committed),
        // The serial part: with build workers the rest runs beside it.
        ingestThread: usPer(mainMs, committed),
        server: usPer(serverMs, committed),
      },
      // The share of the run the ingest thread sat idle (waiting on the server or workers):
      // what overlapping the next build with the commit in flight takes away.
      ingestThreadIdle: Math.round((1 - elu.utilization) * 100) / 100,
      synchronousCommit: sync?.synchronous_commit,
      // Tables with their indexes and TOAST, after ingest (refs, the log, snapshots, ledgers).
      dbBytesPerChange: Math.round(dbBytes / Math.max(1, committed)),
      baseline,
      // The whole pipeline (parse, canonicalize, mask, diff, hash, commit) against raw.
      ratioToBaseline: ratio(committed / seconds, baseline.changesPerSecond),
      // The same rows by COPY: the cheaper raw way, the one crwatch itself uses.
      baselineCopy,
      ratioToCopy: ratio(committed / seconds, baselineCopy.changesPerSecond),
      // The store alone: the same changes committed again through store.commit.
      storeOnly,
      storeOnlyRatioToBaseline: ratio(storeOnly.changesPerSecond, baseline.changesPerSecond),
    };
  } finally {
    await dropSchema(schema);
    await dropSchema(`${schema}_store`);
    await dropSchema(rawSchema);
    await dropSchema(`${rawSchema}_copy`);
  }
}

function minus(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a - b;
}

function ratio(a: number, b: number): number {
  return Math.round((a / b) * 100) / 100;
}

/**
 * The changes ingest made, committed again into a fresh schema in batches of the same size:
 * what the store's commit costs (head check, seq and hash, rows, heads, chain head,
 * notify) without the pipeline in front of it.
 */
async function recommit(from: string, to: string, perCommit: number) {
  const source = await openPostgresStore({ url: postgresUrl, schema: from, mode: "read" });
  const changes = await source.readChanges({ limit: Number.MAX_SAFE_INTEGER });
  await source.close();
  // The full objects the log kept (snapshots): a revision without one is written from its
  // patch alone, so the recommit needs no object for it, as ingest's commit does not.
  const objects = new Map<string, string | null>();
  const rows = await pgQuery<{ key: string; object: string | null }>(
    `SELECT concat_ws(chr(31), r.source, r.grp, r.kind, r.namespace, r.name, c.revision) AS key,
       s.object
     FROM "${from}".snapshots s JOIN "${from}".changes c ON c.seq = s.seq
       JOIN "${from}".refs r ON r.id = c.ref_id`,
  );
  for (const row of rows) objects.set(row.key, row.object);
  const batches: NewChange[][] = [];
  for (let i = 0; i < changes.length; i += perCommit) {
    batches.push(
      changes.slice(i, i + perCommit).map(({ id, seq, hash, prevHash, committedAt, ...c }) => {
        const r = c.ref;
        const key = [r.source, r.group, r.kind, r.namespace, r.name, c.revision].join("\x1f");
        return { ...c, object: null, objectJson: objects.get(key) ?? "null" };
      }),
    );
  }
  const app = `${to}_app`;
  const target = await openPostgresStore({ url: namedUrl(app), schema: to, mode: "write" });
  const server0 = await serverCpuMs(app);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const changes of batches)
    await target.commit({ changes, cursors: [], resolvedProblems: [] });
  const seconds = (performance.now() - t0) / 1000;
  const clientMs = cpuMsSince(cpu0);
  const serverMs = minus(await serverCpuMs(app), server0);
  const verified = (await target.verify()).ok;
  await target.close();
  return {
    changesPerSecond: Math.round(changes.length / seconds),
    cpuUsPerChange: {
      client: usPer(clientMs, changes.length),
      server: usPer(serverMs, changes.length),
    },
    verified,
  };
}

const TABLES = ["refs", "changes", "snapshots"] as const;

/**
 * The rows crwatch wrote, written again with nothing else: each transaction's rows as
 * multi-row INSERTs, or as one COPY FROM STDIN per table (the way crwatch writes its
 * changes and snapshots since decision 0036), into a schema made by the same migrations.
 */
async function rawBaseline(
  from: string,
  to: string,
  perTransaction: number,
  method: "insert" | "copy",
) {
  const target: PostgresStore = await openPostgresStore({
    url: postgresUrl,
    schema: to,
    mode: "write",
  });
  await target.close();
  const rows: Record<string, Record<string, unknown>[]> = {};
  for (const table of TABLES) {
    rows[table] = await pgQuery(`SELECT * FROM "${from}".${table} ORDER BY 1`);
    for (const row of rows[table]!) delete row.ref_search;
  }
  const pg = (await import("pg")).default;
  const app = `${to}_app`;
  const client = new pg.Client({ connectionString: namedUrl(app) });
  await client.connect();
  const write = method === "insert" ? insertMany : copyMany;
  // Column types for the binary COPY, read before the clock starts.
  if (method === "copy") {
    for (const table of TABLES) {
      const first = rows[table]![0];
      if (first) await columnTypes(`"${to}".${table}`, Object.keys(first));
    }
  }
  const server0 = await serverCpuMs(app);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let seconds = 0;
  let clientMs = 0;
  let serverMs: number | null = null;
  try {
    const total = rows.changes!.length;
    for (let i = 0; i < total; i += perTransaction) {
      await client.query("BEGIN");
      for (const table of TABLES) {
        const slice = sliceFor(table, rows[table]!, i, perTransaction, total);
        if (slice.length > 0) await write(client, `"${to}".${table}`, slice);
      }
      await client.query("COMMIT");
    }
    seconds = (performance.now() - t0) / 1000;
    clientMs = cpuMsSince(cpu0);
    serverMs = minus(await serverCpuMs(app), server0);
  } finally {
    await client.end();
  }
  const total = rows.changes!.length;
  return {
    name: method === "insert" ? "postgres-raw-multirow-insert" : "postgres-raw-copy",
    changesPerSecond: Math.round(total / seconds),
    cpuUsPerChange: { client: usPer(clientMs, total), server: usPer(serverMs, total) },
    rowsPerTransaction: perTransaction,
  };
}

/**
 * Changes by position, the snapshots of those changes, and refs (one per resource) spread
 * over the same batches.
 */
function sliceFor(
  table: string,
  all: Record<string, unknown>[],
  at: number,
  size: number,
  total: number,
): Record<string, unknown>[] {
  if (table === "changes") return all.slice(at, at + size);
  if (table === "snapshots")
    return all.filter((row) => Number(row.seq) > at && Number(row.seq) <= at + size);
  const per = Math.ceil((all.length * size) / Math.max(1, total));
  const index = Math.floor(at / size);
  return all.slice(index * per, (index + 1) * per);
}

async function copyMany(
  client: Pick<pg.ClientBase, "query">,
  table: string,
  rows: Record<string, unknown>[],
): Promise<void> {
  const columns = Object.keys(rows[0]!);
  const types = await columnTypes(table, columns);
  await copyInto(client, table, columns, {
    rows,
    types,
    value: (row, c) => row[columns[c]!] as CopyValue,
  });
}

const typesOf = new Map<string, CopyType[]>();

/** The binary COPY's type of each column, read once per table (before the clock, mostly). */
async function columnTypes(table: string, columns: string[]): Promise<CopyType[]> {
  const known = typesOf.get(table);
  if (known) return known;
  const [schema, name] = table.split(".").map((part) => part.replaceAll('"', ""));
  const rows = await pgQuery<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns
     WHERE table_schema = $1 AND table_name = $2`,
    [schema, name],
  );
  const byName = new Map(rows.map((r) => [r.column_name, r.data_type]));
  const types = columns.map((c): CopyType => {
    const type = byName.get(c);
    return type === "bigint" ? "int8" : type === "integer" ? "int4" : "text";
  });
  typesOf.set(table, types);
  return types;
}

async function insertMany(
  client: Pick<pg.ClientBase, "query">,
  table: string,
  rows: Record<string, unknown>[],
): Promise<void> {
  const columns = Object.keys(rows[0]!);
  // At most 65535 parameters per statement.
  const chunk = Math.floor(60_000 / columns.length);
  for (let i = 0; i < rows.length; i += chunk) {
    const params: unknown[] = [];
    const values = rows
      .slice(i, i + chunk)
      .map((row) => `(${columns.map((c) => `$${params.push(row[c])}`).join(", ")})`);
    await client.query(
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${values.join(", ")}`,
      params,
    );
  }
}
