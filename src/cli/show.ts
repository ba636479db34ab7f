import type { Command } from "commander";
import { stringify } from "yaml";
import { renderChange } from "../core/render-change.js";
import { CrwatchError } from "../model/errors.js";
import { changeJson } from "./ci-output.js";
import { openExistingStore, parsePositiveInt } from "./common.js";

export function registerShow(program: Command): void {
  program
    .command("show")
    .description("one change with its full readable diff")
    .argument("<seq>", "the change's sequence number")
    .option("--data-dir <dir>", "where the history is stored", ".crwatch")
    .option("--output <format>", "text or json", "text")
    .action(async (seqText: string, flags: { dataDir?: string; output: string }) => {
      const seq = parsePositiveInt(seqText, "SEQ");
      const store = await openExistingStore(flags.dataDir);
      try {
        const change = await store.getChange(seq);
        if (!change) throw new CrwatchError("CRW_STORE_NOT_FOUND", `no change with seq ${seq}`);
        if (flags.output === "json") {
          process.stdout.write(`${JSON.stringify(changeJson(change), null, 2)}\n`);
          return;
        }
        const lines = [
          renderChange(change, {
            color: process.stdout.isTTY === true,
            maxLines: Number.POSITIVE_INFINITY,
          }),
        ];
        lines.push(`  observed ${change.observedAt}, committed ${change.committedAt}`);
        if (change.cause)
          lines.push(
            `  cause: ${change.cause.kind}${change.cause.message ? `: ${change.cause.message}` : ""}`,
          );
        if (change.patch.length > 0)
          lines.push("  patch (RFC 6902):", indent(stringify(change.patch), 4));
        process.stdout.write(`${lines.join("\n")}\n`);
      } finally {
        await store.close();
      }
    });
}

function indent(text: string, n: number): string {
  const pad = " ".repeat(n);
  return text
    .trimEnd()
    .split("\n")
    .map((l) => pad + l)
    .join("\n");
}
