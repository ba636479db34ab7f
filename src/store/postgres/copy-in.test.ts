import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { postgresUrl } from "../../../test/helpers.js";
import { dropSchema, uniqueSchema } from "../../../test/postgres.js";
import { type CopyType, type CopyValue, copyInto, copyRows } from "./copy-in.js";

describe("copyInto: binary COPY FROM STDIN on a pg client", () => {
  const schema = uniqueSchema("copyin");
  const table = `"${schema}".t`;
  const columns = ["id", "body", "n"];
  const types: CopyType[] = ["int8", "text", "int4"];
  let client: pg.Client;
  before(async () => {
    client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, body TEXT, n INTEGER)`);
  });
  after(async () => {
    await client.end();
    await dropSchema(schema);
  });

  const copy = (rows: CopyValue[][]) =>
    copyInto(
      client,
      table,
      columns,
      copyRows(rows, types, (row, c) => row[c] as CopyValue),
    );
  const count = async () =>
    Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);

  const bodies = [
    "plain",
    "tab\there",
    "line\nbreak\r\n",
    "back\\slash \\N \\. \\t",
    "\\.",
    '{"json":"with \\"quotes\\" and \\\\ escapes"}',
    "ünïcødé ✓ 𝄞",
    "",
    null,
    // Larger than the buffer's first size and than one CopyData message.
    "x".repeat(600_000),
    `${"é".repeat(300_000)}\t𝄞`,
  ];
  // Either side of 2^31 and 2^32, negatives, the largest safe integer, and numeric text.
  const ids = [1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -1, -(2 ** 40), 2 ** 53 - 1];
  const ns = [0, -1, 2 ** 31 - 1, -(2 ** 31), null, "42", 7, null, 9, 10, 11];

  it("stores every value as given: text with any character, nulls, 64- and 32-bit numbers", async () => {
    await copy(bodies.map((body, i) => [ids[i] ?? String(100 + i), body, ns[i] ?? null]));
    const { rows } = await client.query<{ id: string; body: string | null; n: number | null }>(
      `SELECT id::text, body, n FROM ${table}`,
    );
    const want = bodies.map((body, i) => ({
      id: String(ids[i] ?? 100 + i),
      body,
      n: ns[i] === null ? null : Number(ns[i]),
    }));
    const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
    assert.deepEqual(rows.sort(byId), want.sort(byId));
  });

  it("rejects with the server's error and leaves the connection usable", async () => {
    await client.query("BEGIN");
    await assert.rejects(copy([[1, "duplicate key", null]]), /duplicate key value/);
    await client.query("ROLLBACK");
    assert.equal(await count(), bodies.length);
  });

  it("rejects a NUL in a text, which PostgreSQL cannot store, instead of cutting it", async () => {
    await assert.rejects(copy([[998, "before\u0000after", 1]]), /0x00/);
    assert.equal(await count(), bodies.length);
  });

  it("rejects a value of the wrong type for its column instead of storing it", async () => {
    await assert.rejects(
      copyInto(
        client,
        table,
        columns,
        copyRows([[999, "x", 1]], ["int4", "text", "int4"], (row, c) => row[c] as CopyValue),
      ),
      /binary data format|insufficient data/,
    );
    assert.equal(await count(), bodies.length);
  });

  it("copies no row for no rows", async () => {
    await copy([]);
    assert.equal(await count(), bodies.length);
  });
});
