import type pg from "pg";

/**
 * `COPY … FROM STDIN` in PostgreSQL's text format, sent by hand over a pooled pg client
 * (pg runs any object with `submit` as a query and hands it the copy messages), so no
 * stream library is needed. Rows go as one string: no parameter per value to encode on
 * the client, no statement with tens of thousands of placeholders for the server to parse
 * and plan. Decision 0036.
 */

/** What a column may hold: text, a number, or null. */
export type CopyValue = string | number | null;

/** The connection methods a copy uses (pg's Connection; not in pg's public types). */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** Bytes per CopyData message: keeps each message (and its copy into pg's writer) small. */
const CHUNK_BYTES = 256 * 1024;

/** Characters the text format gives a meaning to; each is written backslash-escaped. */
const SPECIAL = /[\\\n\r\t]/;
const SPECIALS = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** One value in the text format: `\N` is null, and a backslash, tab or line break is escaped. */
export function copyText(value: CopyValue): string {
  if (value === null) return "\\N";
  if (typeof value === "number") return String(value);
  // Most values (hashes, times, JSON without escapes) hold none: test before replacing.
  return SPECIAL.test(value) ? value.replace(SPECIALS, (c) => ESCAPES[c] as string) : value;
}

/** Bytes a copy's buffer starts with per row; it grows by half again when short. */
const BYTES_PER_ROW = 2048;

/**
 * Rows as the text format's lines (columns by tab, each line ended by a newline), UTF-8
 * encoded value by value into one buffer: no string of the whole batch to build and then
 * encode (a batch is megabytes, and that string cost more than the values' own encoding).
 */
export function copyLines<R>(
  rows: readonly R[],
  width: number,
  value: (row: R, column: number, index: number) => CopyValue,
): Buffer {
  let buffer = Buffer.allocUnsafe(Math.max(1024, rows.length * BYTES_PER_ROW));
  let at = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as R;
    for (let c = 0; c < width; c++) {
      const text = copyText(value(row, c, i));
      // A UTF-16 unit takes at most 3 bytes of UTF-8 (a surrogate pair: 4 for 2 units).
      const most = at + text.length * 3 + 1;
      if (most > buffer.length) {
        const grown = Buffer.allocUnsafe(Math.max(most, buffer.length + (buffer.length >> 1)));
        buffer.copy(grown, 0, 0, at);
        buffer = grown;
      }
      at += buffer.write(text, at, "utf8");
      buffer[at++] = c === width - 1 ? NEWLINE : TAB;
    }
  }
  return buffer.subarray(0, at);
}

const TAB = 0x09;
const NEWLINE = 0x0a;

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

/** Copies `lines` (see copyLines) into `table (columns)` on `client`, in its transaction. */
export function copyInto(
  client: Pick<pg.ClientBase, "query">,
  table: string,
  columns: readonly string[],
  lines: Buffer,
): Promise<void> {
  if (lines.length === 0) return Promise.resolve();
  const copy = new CopyIn(`COPY ${table} (${columns.join(", ")}) FROM STDIN`, lines);
  return new Promise<void>((resolve, reject) => {
    copy.callback = (err) => (err ? reject(err) : resolve());
    (client.query as (q: unknown) => unknown)(copy);
  });
}
