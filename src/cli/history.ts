import type { Command } from "commander";
import { renderChange } from "../core/render-change.js";
import { type ChangeType, NOTICE_TYPES, RESOURCE_CHANGE_TYPES } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import { changeJson } from "./ci-output.js";
import { openExistingStore, parsePositiveInt } from "./common.js";

interface HistoryFlags {
  dataDir?: string;
  ref?: string;
  since?: string;
  limit?: string;
  type?: string[];
  output: string;
}

const ALL_TYPES: readonly string[] = [...RESOURCE_CHANGE_TYPES, ...NOTICE_TYPES];
const PAGE = 1000;

export function registerHistory(program: Command): void {
  program
    .command("history")
    .description("list recorded changes in seq order")
    .option("--data-dir <dir>", "where the history is stored", ".crwatch")
    .option("--ref <text>", "only refs whose `source:Kind.group ns/name` contains this text")
    .option("--since <seq>", "only changes after this seq")
    .option("--limit <n>", "at most this many changes")
    .option(
      "--type <type>",
      "only this change type (repeatable)",
      (v: string, p: string[] = []) => [...p, v],
    )
    .option("--output <format>", "text or json (one object per line)", "text")
    .action(async (flags: HistoryFlags) => history(flags));
}

async function history(flags: HistoryFlags): Promise<void> {
  if (flags.output !== "text" && flags.output !== "json") {
    throw new CrwatchError("CRW_USAGE", `--output must be text or json, got "${flags.output}"`);
  }
  const types = flags.type?.map((t) => t.toUpperCase());
  const bad = types?.find((t) => !ALL_TYPES.includes(t));
  if (bad)
    throw new CrwatchError(
      "CRW_USAGE",
      `--type must be one of ${ALL_TYPES.join(", ")}, got "${bad}"`,
    );
  const store = await openExistingStore(flags.dataDir);
  try {
    let after = flags.since ? parsePositiveInt(flags.since, "--since") : 0;
    let left = flags.limit ? parsePositiveInt(flags.limit, "--limit") : Number.POSITIVE_INFINITY;
    while (left > 0) {
      const page = await store.readChanges({
        afterSeq: after,
        limit: Math.min(PAGE, left),
        ...(flags.ref ? { refContains: flags.ref } : {}),
        ...(types ? { types: types as ChangeType[] } : {}),
      });
      if (page.length === 0) break;
      const text = page.map((c) =>
        flags.output === "json"
          ? JSON.stringify(changeJson(c))
          : renderChange(c, { color: process.stdout.isTTY === true, maxLines: 10 }),
      );
      process.stdout.write(`${text.join("\n")}\n`);
      after = page[page.length - 1]!.seq;
      left -= page.length;
    }
  } finally {
    await store.close();
  }
}
