import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { postgresUrl } from "../../../test/helpers.js";
import { dropSchema, uniqueSchema } from "../../../test/postgres.js";
import { type CopyValue, copyInto, copyLines, copyText } from "./copy-in.js";

describe("copyText: PostgreSQL's COPY text format", () => {
  it("writes null as \\N and escapes backslash, tab and line breaks", () => {
    assert.equal(copyText(null), "\\N");
    assert.equal(copyText(42), "42");
    assert.equal(copyText("plain"), "plain");
    assert.equal(copyText('{"a":"x\\"y"}'), '{"a":"x\\\\"y"}');
    assert.equal(copyText("a\tb\nc\rd\\"), "a\\tb\\nc\\rd\\\\");
    // The text "\N" is not null: its backslash is escaped.
    assert.equal(copyText("\\N"), "\\\\N");
  });
});

describe("copyInto: COPY FROM STDIN on a pg client", () => {
  const schema = uniqueSchema("copyin");
  const table = `"${schema}".t`;
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
      ["id", "body", "n"],
      copyLines(rows, 3, (row, c) => row[c] as CopyValue),
    );

  it("stores every value as given, special characters and nulls included", async () => {
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
    await copy(bodies.map((body, i) => [i + 1, body, i % 2 === 0 ? i : null]));
    const { rows } = await client.query<{ id: string; body: string | null; n: number | null }>(
      `SELECT id, body, n FROM ${table} ORDER BY id`,
    );
    assert.deepEqual(
      rows.map((r) => r.body),
      bodies,
    );
    assert.deepEqual(
      rows.map((r) => r.n),
      bodies.map((_, i) => (i % 2 === 0 ? i : null)),
    );
  });

  it("rejects with the server's error and leaves the connection usable", async () => {
    await client.query("BEGIN");
    await assert.rejects(copy([[1, "duplicate key", null]]), /duplicate key value/);
    await client.query("ROLLBACK");
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    assert.equal(Number(rows[0]?.n), 11);
  });

  it("copies nothing for no lines, without a round trip", async () => {
    await copy([]);
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    assert.equal(Number(rows[0]?.n), 11);
  });
});
