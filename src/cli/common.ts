import { openForMaintenance, openForReading } from "../compose/store.js";
import { CrwatchError, errorMessage } from "../model/errors.js";
import type { Store } from "../store/store.js";

export const DEFAULT_DATA_DIR = ".crwatch";

/**
 * Opens an existing history; read commands must not create an empty one by accident, and
 * open it read-only (an archived backup stays untouched). `write` is for commands that edit
 * a ledger (dead letters). Not resolved here: the value may be a PostgreSQL URL.
 */
export async function openExistingStore(
  dataDir: string | undefined,
  options: { write?: boolean } = {},
): Promise<Store> {
  const spec = dataDir ?? DEFAULT_DATA_DIR;
  const { store } = await (options.write ? openForMaintenance(spec) : openForReading(spec));
  return store;
}

export function parsePositiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new CrwatchError("CRW_USAGE", `${flag} expects a non-negative integer, got "${value}"`);
  return n;
}

/** Prints `crwatch: CODE: message` (and the cause) and sets exit code 2. */
export function reportFailure(err: unknown): void {
  const code = err instanceof CrwatchError ? `${err.code}: ` : "";
  process.stderr.write(`crwatch: ${code}${errorMessage(err)}\n`);
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause) process.stderr.write(`  caused by: ${errorMessage(cause)}\n`);
  process.exitCode = 2;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
