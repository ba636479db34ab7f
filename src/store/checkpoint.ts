import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChainHead } from "./commit-plan.js";

/**
 * The chain head, kept in a small file beside the database. The head row inside the
 * database cannot tell that the database itself was emptied or replaced by an older copy;
 * this file can (until it is deleted too: export it elsewhere for the stronger guarantee,
 * `crwatch verify --checkpoint FILE`).
 */
export interface Checkpoint extends ChainHead {
  at: string;
}

export const CHECKPOINT_FILE = "chain.checkpoint";

export function readCheckpoint(path: string): Checkpoint | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const parsed = JSON.parse(text) as Partial<Checkpoint>;
  if (typeof parsed.lastSeq !== "number" || typeof parsed.lastHash !== "string") {
    throw new Error(`${path} is not a crwatch checkpoint`);
  }
  return { lastSeq: parsed.lastSeq, lastHash: parsed.lastHash, at: String(parsed.at ?? "") };
}

/** Written to a temporary file and renamed, so a crash never leaves half a checkpoint. */
export function writeCheckpoint(dir: string, head: ChainHead, at: string): void {
  const path = join(dir, CHECKPOINT_FILE);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...head, at })}\n`);
  renameSync(tmp, path);
}

/**
 * Why the log does not reach or match a checkpoint, or undefined. `hashAtCheckpoint` is the
 * stored hash of the checkpoint's seq (undefined when that row is missing).
 */
export function checkpointProblem(
  checkpoint: Checkpoint,
  head: ChainHead,
  hashAtCheckpoint: string | undefined,
): string | undefined {
  if (checkpoint.lastSeq === 0) return undefined;
  if (head.lastSeq < checkpoint.lastSeq) {
    return `the log ends at seq ${head.lastSeq} but a checkpoint of ${checkpoint.at} recorded seq ${checkpoint.lastSeq}: entries were lost (a wiped or restored-from-old database)`;
  }
  if (hashAtCheckpoint !== checkpoint.lastHash) {
    return `seq ${checkpoint.lastSeq} no longer has the hash the checkpoint of ${checkpoint.at} recorded: the history was rewritten`;
  }
  return undefined;
}
