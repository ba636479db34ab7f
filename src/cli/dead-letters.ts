import type { Command } from "commander";
import { formatRef } from "../model/ref.js";
import type { DeadLetterFilter, Store } from "../store/store.js";
import { openExistingStore, parsePositiveInt } from "./common.js";

interface Flags {
  dataDir?: string;
  sink?: string;
  id?: string[];
  output: string;
}

/**
 * What an operator does with changes a sink gave up on: look at them, send them again (a
 * running `serve` picks them up on its next poll; otherwise the next start does), or drop
 * them for good.
 */
export function registerDeadLetters(program: Command): void {
  const command = program
    .command("dead-letters")
    .description("list, retry or drop changes that a sink dead-lettered");
  const common = (sub: Command) =>
    sub
      .option("--data-dir <dir>", "where the history is stored", ".crwatch")
      .option("--sink <name>", "only this sink's dead letters")
      .option("--id <id>", "only this dead letter (repeatable)", (v: string, p: string[] = []) => [
        ...p,
        v,
      ]);
  common(command.command("list").description("list dead letters, oldest first"))
    .option("--output <format>", "text or json (one object per line)", "text")
    .action((flags: Flags) => withStore(flags, (store) => list(store, flags)));
  common(command.command("retry").description("deliver dead letters again"))
    .option("--output <format>", "text", "text")
    .action((flags: Flags) =>
      withStore(flags, async (store) => {
        const n = await store.requeueDeadLetters({ ...filterOf(flags), state: "dead" });
        process.stdout.write(`${n} dead letter(s) queued for another delivery\n`);
      }),
    );
  common(command.command("drop").description("remove dead letters for good"))
    .option("--output <format>", "text", "text")
    .action((flags: Flags) =>
      withStore(flags, async (store) => {
        const n = await store.removeDeadLetters(filterOf(flags));
        process.stdout.write(`${n} dead letter(s) dropped\n`);
      }),
    );
}

function filterOf(flags: Flags): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  if (flags.sink) filter.consumer = `sink:${flags.sink}`;
  if (flags.id) filter.ids = flags.id.map((id) => parsePositiveInt(id, "--id"));
  return filter;
}

async function withStore(flags: Flags, act: (store: Store) => Promise<void>): Promise<void> {
  const store = await openExistingStore(flags.dataDir, { write: true });
  try {
    await act(store);
  } finally {
    await store.close();
  }
}

async function list(store: Store, flags: Flags): Promise<void> {
  for (const letter of await store.listDeadLetters(filterOf(flags))) {
    const change = await store.getChange(letter.seq);
    if (flags.output === "json") {
      process.stdout.write(`${JSON.stringify({ ...letter, changeId: change?.id ?? null })}\n`);
      continue;
    }
    const what = change ? `${change.type} ${formatRef(change.ref)}` : "(not in the log)";
    process.stdout.write(
      `#${letter.id} ${letter.consumer} seq ${letter.seq} ${what}: ${letter.error} ` +
        `(${letter.attempts} attempt(s), ${letter.state}, ${letter.createdAt})\n`,
    );
  }
}
