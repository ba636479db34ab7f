import type { Command } from "commander";
import { openExistingStore } from "./common.js";

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description("check the change log's hash chain; exit 1 with the first bad seq")
    .option("--data-dir <dir>", "where the history is stored", ".crwatch")
    .action(async (flags: { dataDir?: string }) => {
      const store = await openExistingStore(flags.dataDir);
      try {
        const result = await store.verify();
        if (result.ok) {
          process.stdout.write(
            `ok: ${result.checked} changes, chain intact up to seq ${result.lastSeq}\n`,
          );
        } else {
          process.stdout.write(`broken at seq ${result.firstBadSeq}: ${result.reason}\n`);
          process.exitCode = 1;
        }
      } finally {
        await store.close();
      }
    });
}
