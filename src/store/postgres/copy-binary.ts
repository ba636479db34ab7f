/**
 * PostgreSQL's binary COPY format, written in chunks: a signature, each row as a field
 * count and each field as its length and bytes (-1 for null), then a trailer. Values go
 * straight from the rows into one reused chunk buffer, handed on each time it fills: a
 * batch of megabytes is never held whole, and no value is scanned for characters to
 * escape (the text format's cost). Decision 0036.
 */

/** A column's type as the binary format writes it: bigint, integer or text. */
export type CopyType = "int8" | "int4" | "text";

/** What a column may hold: text, a number (a numeric string for int8/int4), or null. */
export type CopyValue = string | number | null;

/** The rows to copy: column `c` of row `i` is `value(row, c, i)`, of type `types[c]`. */
export interface CopySource<R> {
  rows: readonly R[];
  types: readonly CopyType[];
  value: (row: R, column: number, index: number) => CopyValue;
}

/** Bytes per chunk (one CopyData message each). */
export const CHUNK_BYTES = 256 * 1024;
/** The signature, then no flags and no header extension. */
const HEADER = Buffer.concat([Buffer.from("PGCOPY\n\xff\r\n\0", "latin1"), Buffer.alloc(8)]);
const TWO_32 = 2 ** 32;

/**
 * One buffer for every copy of the process: a copy is written synchronously from start to
 * end (`writeCopy`) and `send` copies each chunk before it returns, so no two copies ever
 * share it at once.
 */
const shared = Buffer.allocUnsafe(CHUNK_BYTES);

/** Writes `source` as one binary COPY's bytes, `send`ing them chunk by chunk, in order. */
export function writeCopy<R>(source: CopySource<R>, send: (chunk: Buffer) => void): void {
  const out = new ChunkWriter(shared, send);
  out.bytes(HEADER);
  const { rows, types, value } = source;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as R;
    out.int16(types.length);
    for (let c = 0; c < types.length; c++) out.field(types[c] as CopyType, value(row, c, i));
  }
  out.int16(-1);
  out.flush();
}

class ChunkWriter {
  private at = 0;

  constructor(
    private readonly buffer: Buffer,
    private readonly send: (chunk: Buffer) => void,
  ) {}

  field(type: CopyType, value: CopyValue): void {
    if (value === null) this.int32(-1);
    else if (type === "text") this.text(String(value));
    else if (type === "int4") {
      this.int32(4);
      this.int32(Number(value));
    } else {
      const n = Number(value);
      const high = Math.floor(n / TWO_32);
      this.int32(8);
      this.int32(high);
      this.room(4);
      this.at = this.buffer.writeUInt32BE(n - high * TWO_32, this.at);
    }
  }

  int16(n: number): void {
    this.room(2);
    this.at = this.buffer.writeInt16BE(n, this.at);
  }

  int32(n: number): void {
    this.room(4);
    this.at = this.buffer.writeInt32BE(n, this.at);
  }

  bytes(data: Buffer): void {
    if (data.length > this.buffer.length) {
      this.flush();
      this.send(data);
      return;
    }
    this.room(data.length);
    this.at += data.copy(this.buffer, this.at);
  }

  flush(): void {
    if (this.at === 0) return;
    this.send(this.buffer.subarray(0, this.at));
    this.at = 0;
  }

  private text(text: string): void {
    // A UTF-16 unit takes at most 3 bytes of UTF-8 (a surrogate pair: 4 for 2 units).
    const most = 4 + text.length * 3;
    if (most > this.buffer.length) {
      // Larger than a chunk: encoded on its own, sent after its length.
      const data = Buffer.from(text, "utf8");
      this.int32(data.length);
      this.bytes(data);
      return;
    }
    this.room(most);
    const start = this.at + 4;
    const length = this.buffer.write(text, start, "utf8");
    this.buffer.writeInt32BE(length, this.at);
    this.at = start + length;
  }

  /** Sends what the chunk holds when `bytes` more would not fit. */
  private room(bytes: number): void {
    if (this.at + bytes > this.buffer.length) this.flush();
  }
}
