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

/** Rows as the text format's lines: columns by tab, each line ended by a newline. */
export function copyLines<R>(
  rows: readonly R[],
  width: number,
  value: (row: R, column: number, index: number) => CopyValue,
): string {
  let out = "";
  const line: string[] = new Array(width);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as R;
    for (let c = 0; c < width; c++) line[c] = copyText(value(row, c, i));
    out += `${line.join("\t")}\n`;
  }
  return out;
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

/** Copies `lines` (see copyLines) into `table (columns)` on `client`, in its transaction. */
export function copyInto(
  client: Pick<pg.ClientBase, "query">,
  table: string,
  columns: readonly string[],
  lines: string,
): Promise<void> {
  if (lines.length === 0) return Promise.resolve();
  const copy = new CopyIn(
    `COPY ${table} (${columns.join(", ")}) FROM STDIN`,
    Buffer.from(lines, "utf8"),
  );
  return new Promise<void>((resolve, reject) => {
    copy.callback = (err) => (err ? reject(err) : resolve());
    (client.query as (q: unknown) => unknown)(copy);
  });
}
