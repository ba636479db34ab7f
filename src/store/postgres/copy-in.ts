import type pg from "pg";

/**
 * `COPY … FROM STDIN (FORMAT binary)`, sent by hand over a pooled pg client (pg runs any
 * object with `submit` as a query and hands it the copy messages), so no stream library is
 * needed. Rows go as one buffer: no parameter per value to encode on the client, no
 * statement with tens of thousands of placeholders for the server to parse and plan, and,
 * unlike the text format, no scan of every value for characters to escape. Decision 0036.
 */

/** A column's type as the binary format writes it: bigint, integer or text. */
export type CopyType = "int8" | "int4" | "text";

/** What a column may hold: text, a number (a numeric string for int8/int4), or null. */
export type CopyValue = string | number | null;

/** The connection methods a copy uses (pg's Connection; not in pg's public types). */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** Bytes per CopyData message: keeps each message (and its copy into pg's writer) small. */
const CHUNK_BYTES = 256 * 1024;
/** Bytes a copy's buffer starts with per row; it grows by half again when short. */
const BYTES_PER_ROW = 2048;
/** The binary format's signature, then no flags and no header extension. */
const HEADER = Buffer.concat([Buffer.from("PGCOPY\n\xff\r\n\0", "latin1"), Buffer.alloc(8)]);
const TWO_32 = 2 ** 32;

/** Rows in the binary format: each a field count, then each field's length and bytes. */
export class CopyWriter {
  private buffer: Buffer;
  private at = 0;

  constructor(rows: number) {
    this.buffer = Buffer.allocUnsafe(HEADER.length + 2 + Math.max(1, rows) * BYTES_PER_ROW);
    this.at = HEADER.copy(this.buffer, 0);
  }

  row(width: number): void {
    this.ensure(2);
    this.at = this.buffer.writeInt16BE(width, this.at);
  }

  field(type: CopyType, value: CopyValue): void {
    if (value === null) {
      this.ensure(4);
      this.at = this.buffer.writeInt32BE(-1, this.at);
    } else if (type === "text") {
      const text = String(value);
      // A UTF-16 unit takes at most 3 bytes of UTF-8 (a surrogate pair: 4 for 2 units).
      this.ensure(4 + text.length * 3);
      const start = this.at + 4;
      const length = this.buffer.write(text, start, "utf8");
      this.buffer.writeInt32BE(length, this.at);
      this.at = start + length;
    } else if (type === "int4") {
      this.ensure(8);
      this.at = this.buffer.writeInt32BE(4, this.at);
      this.at = this.buffer.writeInt32BE(Number(value), this.at);
    } else {
      const n = Number(value);
      const high = Math.floor(n / TWO_32);
      this.ensure(12);
      this.at = this.buffer.writeInt32BE(8, this.at);
      this.at = this.buffer.writeInt32BE(high, this.at);
      this.at = this.buffer.writeUInt32BE(n - high * TWO_32, this.at);
    }
  }

  /** The copy's bytes, trailer included. */
  end(): Buffer {
    this.ensure(2);
    this.at = this.buffer.writeInt16BE(-1, this.at);
    return this.buffer.subarray(0, this.at);
  }

  private ensure(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const size = Math.max(this.at + bytes + 2, this.buffer.length + (this.buffer.length >> 1));
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }
}

/** `rows` as a binary COPY's bytes: column `c` of a row is `value(row, c, i)` of `types[c]`. */
export function copyRows<R>(
  rows: readonly R[],
  types: readonly CopyType[],
  value: (row: R, column: number, index: number) => CopyValue,
): Buffer {
  const writer = new CopyWriter(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as R;
    writer.row(types.length);
    for (let c = 0; c < types.length; c++) writer.field(types[c] as CopyType, value(row, c, i));
  }
  return writer.end();
}

/** A COPY FROM STDIN as a pg query: `client.query(new CopyIn(…))` runs it in the queue. */
class CopyIn {
  callback?: (err: Error | null) => void;
  private error: Error | null = null;

  constructor(
    private readonly text: string,
    private readonly data: Buffer,
  ) {}

  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: CopyConnection): void {
    for (let at = 0; at < this.data.length; at += CHUNK_BYTES)
      connection.sendCopyFromChunk(this.data.subarray(at, at + CHUNK_BYTES));
    connection.endCopyFrom();
  }

  /** The server's error; pg then clears this query and calls nothing else on it. */
  handleError(err: Error): void {
    this.error = err;
    this.callback?.(err);
  }

  handleReadyForQuery(): void {
    if (this.error === null) this.callback?.(null);
  }

  // Nothing to do for these: a COPY FROM returns no rows.
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/**
 * Copies `data` (copyRows' bytes, for these columns in this order) into `table (columns)`
 * on `client`, in its transaction.
 */
export function copyInto(
  client: Pick<pg.ClientBase, "query">,
  table: string,
  columns: readonly string[],
  data: Buffer,
): Promise<void> {
  const copy = new CopyIn(`COPY ${table} (${columns.join(", ")}) FROM STDIN (FORMAT binary)`, data);
  return new Promise<void>((resolve, reject) => {
    copy.callback = (err) => (err ? reject(err) : resolve());
    (client.query as (q: unknown) => unknown)(copy);
  });
}
