import { sha256Hex } from "./stable-json.js";

/** The hash of the entry before the first one. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * The stored columns of one change-log row, exactly as written (JSON columns as their
 * text), so verification recomputes the hash from what is on disk, not from a re-encoding.
 */
export type ChainRow = readonly (string | number | null)[];

/**
 * hash(n) = sha256(hash(n-1) ‖ JSON(row n)). Editing a row changes its hash; deleting or
 * reordering rows breaks the link from the next row; the store keeps the head (last seq and
 * hash) beside the log so a truncated tail is caught too.
 */
export function chainHash(prevHash: string, row: ChainRow): string {
  return sha256Hex(`${prevHash}\n${JSON.stringify(row)}`);
}
