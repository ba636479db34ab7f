import type pg from "pg";
import { CrwatchError } from "../../model/errors.js";
import type { CopiedTable, HistoryExporter, RawRow } from "../copy.js";

type Queryable = Pick<pg.PoolClient, "query">;

/** A table's qualified name in the store's schema. */
type TableName = (table: string) => string;

/** A copy goes only into an empty schema: two histories cannot be merged into one chain. */
export async function assertEmpty(
  client: Queryable,
  t: TableName,
  tables: readonly CopiedTable[],
): Promise<void> {
  for (const table of tables) {
    if (table.name === "chain_head") continue;
    const { rows } = await client.query(`SELECT 1 FROM ${t(table.name)} LIMIT 1`);
    if (rows.length > 0) {
      throw new CrwatchError(
        "CRW_STORE_MIGRATION",
        `the target schema already holds a history (table ${table.name} is not empty); copy into an empty schema`,
      );
    }
  }
}

/** Every table page by page, parents first; returns the rows copied per table. */
export async function importTables(
  client: Queryable,
  t: TableName,
  tables: readonly CopiedTable[],
  from: HistoryExporter,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    let count = 0;
    for await (const rows of from.exportRows(table)) {
      await importPage(client, t, table, rows);
      count += rows.length;
    }
    counts[table.name] = count;
  }
  // New dead letters and refs continue after the copied ids.
  for (const table of ["dead_letters", "refs"]) {
    await client.query(
      `SELECT setval(pg_get_serial_sequence($1, 'id'), max(id)) FROM ${t(table)} HAVING max(id) IS NOT NULL`,
      [t(table)],
    );
  }
  return counts;
}

/**
 * Rows go in as JSON (json_populate_recordset), so each column keeps its exact text or
 * number whatever table it is; chain_head's one row replaces the empty store's.
 */
async function importPage(
  client: Queryable,
  t: TableName,
  table: CopiedTable,
  rows: RawRow[],
): Promise<void> {
  const columns = table.columns.join(", ");
  if (table.name === "chain_head") {
    const head = rows[0] as { last_seq: number; last_hash: string };
    await client.query(`UPDATE ${t("chain_head")} SET last_seq = $1, last_hash = $2 WHERE id = 1`, [
      head.last_seq,
      head.last_hash,
    ]);
    return;
  }
  await client.query(
    `INSERT INTO ${t(table.name)} (${columns})
     SELECT ${columns} FROM json_populate_recordset(NULL::${t(table.name)}, $1::json)`,
    [JSON.stringify(rows)],
  );
}
