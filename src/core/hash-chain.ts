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
 * escaping, and the large JSON columns are fed to the hash as they are rather than copied
 * into one escaped string first (this runs once per committed change).
 */
export function chainHash(prevHash: string, row: ChainRow): string {
  const hash = createHash("sha256").update(prevHash);
  for (const column of row) {
    if (column === null) {
      hash.update("n");
    } else if (typeof column === "number") {
      const text = String(column);
      hash.update(`i${text.length}:${text}`);
    } else {
      hash.update(`s${Buffer.byteLength(column)}:`).update(column);
    }
  }
  return hash.digest("hex");
}
