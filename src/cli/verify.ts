import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { checkpointProblem, readCheckpoint } from "../store/checkpoint.js";
import type { Store } from "../store/store.js";
import { openExistingStore } from "./common.js";

interface VerifyFlags {
  dataDir?: string;
  checkpoint?: string;
  exportCheckpoint?: string;
}

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description(
      "check the file, the hash chain, every stored revision and the checkpoint; exit 1 with the first bad seq",
    )
    .option("--data-dir <dir>", "where the history is stored", ".crwatch")
    .option(
      "--checkpoint <file>",
      "also check against a checkpoint exported earlier (kept away from the data directory)",
    )
    .option("--export-checkpoint <file>", "when intact, write the chain head to this file")
    .action(async (flags: VerifyFlags) => {
      const store = await openExistingStore(flags.dataDir);
      try {
        await verify(store, flags);
      } finally {
        await store.close();
      }
    });
}

async function verify(store: Store, flags: VerifyFlags): Promise<void> {
  const result = await store.verify();
  if (!result.ok) {
    const code = result.code ? `${result.code}: ` : "";
    process.stdout.write(`broken at seq ${result.firstBadSeq}: ${code}${result.reason}\n`);
    process.exitCode = 1;
    return;
  }
  const head = {
    lastSeq: result.lastSeq,
    lastHash: (await store.getChange(result.lastSeq))?.hash ?? "",
  };
  if (flags.checkpoint) {
    const checkpoint = readCheckpoint(flags.checkpoint);
    const problem = checkpoint
      ? checkpointProblem(checkpoint, head, (await store.getChange(checkpoint.lastSeq))?.hash)
      : `${flags.checkpoint} cannot be read`;
    if (problem) {
      process.stdout.write(`broken: CRW_STORE_TRUNCATED: ${problem}\n`);
      process.exitCode = 1;
      return;
    }
  }
  if (flags.exportCheckpoint) {
    const at = new Date().toISOString();
    await writeFile(flags.exportCheckpoint, `${JSON.stringify({ ...head, at })}\n`);
  }
  process.stdout.write(`ok: ${result.checked} changes, chain intact up to seq ${result.lastSeq}\n`);
}
