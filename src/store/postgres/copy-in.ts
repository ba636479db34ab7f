import type pg from "pg";
import { type CopySource, writeCopy } from "./copy-binary.js";

/**
 * `COPY … FROM STDIN (FORMAT binary)` sent by hand over a pooled pg client: pg runs any
 * object with `submit` as a query and hands it the copy-in messages, so no stream library
 * is needed. Compared with a multi-row INSERT there is no parameter per value to encode on
 * the client, and no statement with tens of thousands of placeholders for the server to
 * parse and plan. Decision 0036.
 */

/** The connection methods a copy uses (pg's Connection; not in pg's public types). */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

/** A COPY FROM STDIN as a pg query: `client.query(new CopyIn(…))` runs it in the queue. */
class CopyIn<R> {
  callback?: (err: Error | null) => void;
  private error: Error | null = null;

  constructor(
    private readonly text: string,
    private readonly source: CopySource<R>,
  ) {}

  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }

  /**
   * The server is ready for the data: the rows are encoded now, chunk by chunk, each sent
   * as it fills. A row that cannot be encoded fails the copy (CopyFail), and the commit
   * gets that error rather than the server's echo of it.
   */
  handleCopyInResponse(connection: CopyConnection): void {
    try {
      writeCopy(this.source, (chunk) => connection.sendCopyFromChunk(chunk));
      connection.endCopyFrom();
    } catch (err) {
      this.error = err instanceof Error ? err : new Error(String(err));
      connection.sendCopyFail(this.error.message);
    }
  }

  /** The server's error; pg then clears this query and calls nothing else on it. */
  handleError(err: Error): void {
    const error = this.error ?? err;
    this.error = error;
    this.callback?.(error);
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

/** Copies `source`'s rows into `table (columns)` on `client`, in its transaction. */
export function copyInto<R>(
  client: Pick<pg.ClientBase, "query">,
  table: string,
  columns: readonly string[],
  source: CopySource<R>,
): Promise<void> {
  const copy = new CopyIn(
    `COPY ${table} (${columns.join(", ")}) FROM STDIN (FORMAT binary)`,
    source,
  );
  return new Promise<void>((resolve, reject) => {
    copy.callback = (err) => (err ? reject(err) : resolve());
    (client.query as (q: unknown) => unknown)(copy);
  });
}
