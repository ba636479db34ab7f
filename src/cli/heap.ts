/**
 * The V8 heap limits `crwatch serve` runs with (decision 0029). V8 sizes its heap at start
 * from the machine's memory (about 4 GiB of old space here, 48 MiB of young generation),
 * and under crwatch's allocation rate it grows the heap long before it collects: a long
 * `serve` holding ~100 MiB of live objects reached 300–950 MiB of RSS. The limits below
 * bound that growth; they can only be set when the process starts, so the CLI starts
 * `serve` again with them (main.ts) unless they are already set.
 */
import { CrwatchError } from "../model/errors.js";

/** Old-space limit by default, in MiB: V8 collects harder as the heap nears it. */
export const DEFAULT_HEAP_MIB = 1024;
/**
 * Young-generation semi-space, in MiB (V8's default is 16: 48 MiB of young generation).
 * Measured at 10k files (decision 0029): 2 MiB saved the most RSS but made a first start
 * ~30% slower and tripled GC time while edits were handled (batches allocate in proportion
 * to the tree); 8 MiB kept most of the RSS saving at a fraction of that cost.
 */
export const DEFAULT_SEMI_SPACE_MIB = 8;
/** Below this, crwatch's own modules and a few batches do not fit. */
export const MIN_HEAP_MIB = 64;
/** The environment variable that overrides the old-space limit (`off`: V8's own default). */
export const HEAP_ENV = "CRWATCH_HEAP_MIB";

const OLD_SPACE = /(?:^|\s)--max[-_]old[-_]space[-_]size(?:[=\s]|$)/;
const SEMI_SPACE = /(?:^|\s)--max[-_]semi[-_]space[-_]size(?:[=\s]|$)/;

/**
 * The V8 flags to start `serve` with: the defaults, or CRWATCH_HEAP_MIB's old space, minus
 * whatever the user already set on node's command line or in NODE_OPTIONS (theirs wins).
 * Empty: nothing to add, run as started. They go into NODE_OPTIONS, not node's arguments:
 * worker threads inherit node's arguments and refuse V8 heap flags among them
 * (ERR_WORKER_INVALID_EXEC_ARGV), while NODE_OPTIONS applies to the whole process.
 */
export function heapFlags(env: NodeJS.ProcessEnv, execArgv: readonly string[]): string[] {
  const given = `${execArgv.join(" ")} ${env.NODE_OPTIONS ?? ""}`;
  const setting = env[HEAP_ENV]?.trim();
  if (setting === "off") return [];
  const oldSpace = setting ? parseHeapMib(setting) : DEFAULT_HEAP_MIB;
  const flags: string[] = [];
  if (!OLD_SPACE.test(given)) flags.push(`--max-old-space-size=${oldSpace}`);
  if (!SEMI_SPACE.test(given)) flags.push(`--max-semi-space-size=${DEFAULT_SEMI_SPACE_MIB}`);
  return flags;
}

function parseHeapMib(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < MIN_HEAP_MIB) {
    throw new CrwatchError(
      "CRW_USAGE",
      `${HEAP_ENV} must be a whole number of MiB, at least ${MIN_HEAP_MIB}, or "off"; got "${value}"`,
    );
  }
  return n;
}

/** NODE_OPTIONS with `flags` added after what the user put there. */
export function withNodeOptions(env: NodeJS.ProcessEnv, flags: string[]): NodeJS.ProcessEnv {
  const options = [env.NODE_OPTIONS?.trim(), ...flags].filter(Boolean).join(" ");
  return { ...env, NODE_OPTIONS: options };
}
