import type { Command } from "commander";
import { CrwatchError } from "../model/errors.js";
import type { DeadLetter, DeadLetterFilter, Store } from "../store/store.js";
import { openExistingStore, parsePositiveInt } from "./common.js";

const ACTIONS = ["list", "retry", "drop"] as const;
type Action = (typeof ACTIONS)[number];

interface Flags {
  dataDir?: string;
  sink?: string;
  seq?: string;
  all?: boolean;
  output: string;
}

/** A sink's dead letters are kept under this consumer name (see sinks/dispatcher.ts). */
const SINK_PREFIX = "sink:";

/**
 * What an operator does with changes a sink gave up on: look at them, send them again (a
 * running `serve` picks them up at its next poll: the store is shared, SQLite lets this
 * second process write), or drop them for good.
 */
export function registerDeadLetters(program: Command): void {
  program
    .command("dead-letters")
    .description("list, retry or drop the changes a sink gave up on")
    .argument("<action>", "list, retry or drop")
    .option("--data-dir <dir>", "where the history is stored", ".crwatch")
    .option("--sink <name>", "only this sink's dead letters")
    .option("--seq <n>", "only the dead letter of this change")
    .option("--all", "drop: every dead letter (needed when neither --sink nor --seq is given)")
    .option("--output <format>", "text or json", "text")
    .action(async (action: string, flags: Flags) => {
      const chosen = checkAction(action);
      if (flags.output !== "text" && flags.output !== "json")
        throw new CrwatchError("CRW_USAGE", `--output expects text or json, got "${flags.output}"`);
      const seq = flags.seq === undefined ? undefined : parsePositiveInt(flags.seq, "--seq");
      if (chosen === "drop" && !flags.sink && seq === undefined && !flags.all)
        throw new CrwatchError("CRW_USAGE", "drop needs --sink, --seq or --all");
      const store = await openExistingStore(flags.dataDir, { write: chosen !== "list" });
      try {
        await run(store, chosen, flags, seq);
      } finally {
        await store.close();
      }
    });
}

function checkAction(action: string): Action {
  if ((ACTIONS as readonly string[]).includes(action)) return action as Action;
  throw new CrwatchError("CRW_USAGE", `dead-letters expects list, retry or drop, got "${action}"`);
}

async function run(
  store: Store,
  action: Action,
  flags: Flags,
  seq: number | undefined,
): Promise<void> {
  const filter: DeadLetterFilter = flags.sink ? { consumer: `${SINK_PREFIX}${flags.sink}` } : {};
  const letters = (await store.listDeadLetters(filter)).filter(
    (l) => seq === undefined || l.seq === seq,
  );
  if (action === "list") {
    process.stdout.write(render(letters, flags.output));
    return;
  }
  const ids = letters.map((l) => l.id);
  const count =
    ids.length === 0
      ? 0
      : action === "retry"
        ? await store.requeueDeadLetters({ ids })
        : await store.removeDeadLetters({ ids });
  const verb = action === "retry" ? "marked for retry" : "dropped";
  if (flags.output === "json") process.stdout.write(`${JSON.stringify({ action, count })}\n`);
  else
    process.stdout.write(
      `${count} dead letter(s) ${verb}${action === "retry" && count > 0 ? "; a running crwatch serve delivers them at its next poll" : ""}\n`,
    );
}

function sinkOf(letter: DeadLetter): string {
  return letter.consumer.startsWith(SINK_PREFIX)
    ? letter.consumer.slice(SINK_PREFIX.length)
    : letter.consumer;
}

function render(letters: DeadLetter[], output: string): string {
  if (output === "json")
    return `${JSON.stringify(letters.map((l) => ({ ...l, sink: sinkOf(l) })))}\n`;
  if (letters.length === 0) return "no dead letters\n";
  const lines = letters.map(
    (l) =>
      `#${l.seq} ${sinkOf(l)} ${l.state} after ${l.attempts} attempt(s) at ${l.createdAt}: ${l.error}`,
  );
  return `${lines.join("\n")}\n`;
}
