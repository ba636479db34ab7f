import { createHash } from "node:crypto";

/** The hash of the entry before the first one. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * The stored columns of one change-log row, exactly as written (JSON columns as their
 * text), so verification recomputes the hash from what is on disk, not from a re-encoding.
 */
export type ChainRow = readonly (string | number | null)[];

/**
 * hash(n) = sha256(hash(n-1) ‖ frame(column 1) ‖ … ‖ frame(column k)). Editing a row changes
 * its hash; deleting or reordering rows breaks the link from the next row; the store keeps
 * the head (last seq and hash) beside the log so a cut tail is caught too.
 *
 * Each column is framed as `<type><length>:<text>`, so the encoding is unambiguous without
 * escaping; the frames are joined unescaped and hashed in one call (this runs once per
 * committed change).
 */
export function chainHash(prevHash: string, row: ChainRow): string {
  // One update call of one string: each call crosses into C++, and a row has ~20 columns.
  let framed = prevHash;
  for (const column of row) {
    if (column === null) framed += "n";
    else if (typeof column === "number") {
      const text = String(column);
      framed += `i${text.length}:${text}`;
    } else framed += `s${Buffer.byteLength(column)}:${column}`;
  }
  return createHash("sha256").update(framed).digest("hex");
}
