import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { postgresUrl } from "../../../test/helpers.js";
import { dropSchema, uniqueSchema } from "../../../test/postgres.js";
import { CHUNK_BYTES, type CopyType, type CopyValue } from "./copy-binary.js";
import { copyInto } from "./copy-in.js";

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

  const copy = (rows: CopyValue[][], as: CopyType[] = types) =>
    copyInto(client, table, columns, { rows, types: as, value: (row, c) => row[c] as CopyValue });
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
    // Either side of what fits a chunk (a UTF-16 unit counted as up to 3 bytes), and more.
    "w".repeat(Math.floor((CHUNK_BYTES - 4) / 3)),
    "v".repeat(Math.floor((CHUNK_BYTES - 4) / 3) + 1),
    "x".repeat(600_000),
    `${"é".repeat(300_000)}\t𝄞`,
  ];
  // Either side of 2^31 and 2^32, negatives, the largest safe integer, and numeric text.
  const ids = [1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -1, -(2 ** 40), 2 ** 53 - 1];
  const ns = [0, -1, 2 ** 31 - 1, -(2 ** 31), null, "42", 7, null, 9, 10, 11, 12, 13];

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
      copy([[999, "x", 1]], ["int4", "text", "int4"]),
      /binary data format|insufficient data/,
    );
    assert.equal(await count(), bodies.length);
  });

  it("fails the copy with the encoder's error when a row cannot be encoded, storing nothing", async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => [10_000 + i, `row ${i}`, i]);
    const broken = new Error("row 15000 cannot be encoded");
    await assert.rejects(
      copyInto(client, table, columns, {
        rows,
        types,
        value: (row, c, i) => {
          if (i === 15_000) throw broken;
          return row[c] as CopyValue;
        },
      }),
      (err) => err === broken,
    );
    assert.equal(await count(), bodies.length);
  });

  it("copies many small rows across chunk boundaries", async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => [10_000 + i, `row ${i}`, i]);
    await copy(rows);
    const { rows: sums } = await client.query<{ n: string; s: string; l: string }>(
      `SELECT count(*) AS n, sum(n) AS s, sum(length(body)) AS l FROM ${table} WHERE id BETWEEN 10000 AND 29999`,
    );
    assert.deepEqual(sums[0], {
      n: "20000",
      s: String((19_999 * 20_000) / 2),
      l: String(rows.reduce((sum, row) => sum + String(row[1]).length, 0)),
    });
    await client.query(`DELETE FROM ${table} WHERE id BETWEEN 10000 AND 29999`);
  });

  it("copies no row for no rows", async () => {
    await copy([]);
    assert.equal(await count(), bodies.length);
  });
});
