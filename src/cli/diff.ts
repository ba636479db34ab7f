import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { offlineDiff } from "../compose/offline-diff.js";
import { loadConfig } from "../config/load.js";
import { renderChange } from "../core/render-change.js";
import type { Change } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description(
      "compare two files or two directories offline; prints the changes from BEFORE to AFTER",
    )
    .argument("<before>", "file or directory")
    .argument("<after>", "file or directory")
    .option("--output <format>", "text or json (one object per line)", "text")
    .option(
      "--config <file>",
      "take ingest settings (secretKeys, ignorePaths, maskKey) from a crwatch config",
    )
    .action(async (before: string, after: string, flags: { output: string; config?: string }) => {
      const changes = await diffPaths(resolve(before), resolve(after), flags.config);
      for (const change of changes) {
        const { id, seq, hash, prevHash, committedAt, ...rest } = change;
        process.stdout.write(
          `${flags.output === "json" ? JSON.stringify(rest) : renderChange(change, { color: process.stdout.isTTY === true, offline: true })}\n`,
        );
      }
    });
}

/** The changes from BEFORE to AFTER, with the ingest settings of `configPath` when given. */
export async function diffPaths(
  before: string,
  after: string,
  configPath?: string,
): Promise<Change[]> {
  for (const path of [before, after]) {
    await stat(path).catch((err) => {
      throw new CrwatchError("CRW_DIFF_INPUT", `${path} cannot be read`, { cause: err });
    });
  }
  const config = await loadConfig(configPath ? { configPath } : {});
  return offlineDiff(config, before, after);
}
