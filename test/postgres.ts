import pg from "pg";
import { postgresUrl } from "./helpers.js";

let counter = 0;

/** A schema name no other test (or test process) uses: the label, the pid and a counter. */
export function uniqueSchema(label: string): string {
  counter += 1;
  return `crw_${label}_${process.pid}_${counter}`;
}

/** Runs one statement on a short-lived connection (set-up, tampering, clean-up). */
export async function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
