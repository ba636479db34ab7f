import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { heapFlags, withNodeOptions } from "../../src/cli/heap.js";
import type { Change } from "../../src/model/change.js";
import { openSqliteStore } from "../../src/store/sqlite/store.js";
import { cliPath, waitFor } from "../helpers.js";

/** A `crwatch serve` child process with its output captured. */
export interface Served {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `launcher`, when given, runs the node process through another command (such as `setpriv`
 * with arguments that drop capabilities), which execs node with the usual arguments.
 *
 * The child starts with the heap limits `serve` gives itself (in NODE_OPTIONS), so it runs
 * as users' `serve` does but needs no relaunch: on Node 20 that is a second process, and
 * tests that kill or name the serving process by pid must reach the one doing the work.
 * heap.test.ts covers the relaunch itself.
 */
export function serve(
  args: string[],
  cwd?: string,
  env: NodeJS.ProcessEnv = {},
  launcher: string[] = [],
): Served {
  const command = [process.execPath, cliPath, "serve", "--log-level", "debug", ...args];
  const [file, ...rest] = [...launcher, ...command] as [string, ...string[]];
  const child = spawn(file, rest, {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: servedEnv({ ...process.env, CRWATCH_MASK_KEY: "e2e-mask-key-0123456789", ...env }),
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

function servedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return withNodeOptions(env, heapFlags(env, []));
}

/** Runs a CLI command to completion. */
export function cli(
  args: string[],
  cwd?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, CRWATCH_MASK_KEY: "e2e-mask-key-0123456789" },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The GAP each restart records for the time crwatch was down. */
export function isDowntimeGap(change: { type: string; notice?: { code: string } | null }): boolean {
  return change.type === "GAP" && change.notice?.code === "CRW_NOT_RUNNING";
}

/**
 * Reads the history straight from the store (a second reader, as WAL allows), without the
 * downtime GAPs of restarts (`full` keeps them).
 */
export async function readHistory(dataDir: string, full = false): Promise<Change[]> {
  const store = await openSqliteStore({ dir: dataDir, readonly: true });
  try {
    const changes = await store.readChanges({ limit: 100_000 });
    return full ? changes : changes.filter((c) => !isDowntimeGap(c));
  } finally {
    await store.close();
  }
}

/** Waits until the history holds at least `count` changes matching `match`. */
export async function waitForChanges(
  dataDir: string,
  match: (c: Change) => boolean,
  count = 1,
  timeoutMs = 15_000,
): Promise<Change[]> {
  return waitFor(
    async () => {
      const found = (await readHistory(dataDir).catch(() => [])).filter(match);
      return found.length >= count ? found : null;
    },
    timeoutMs,
    `${count} matching change(s) in ${dataDir}`,
  );
}

/** Waits for the serve process to log that it is watching (initial scan committed). */
export async function waitUntilWatching(served: Served): Promise<void> {
  await waitFor(
    () => served.stderr().includes("crwatch is watching") || served.child.exitCode !== null,
    20_000,
    "crwatch to start",
  );
  if (served.child.exitCode !== null) throw new Error(`serve exited early:\n${served.stderr()}`);
}

export async function stop(served: Served, signal: NodeJS.Signals = "SIGTERM") {
  served.child.kill(signal);
  return served.exited;
}
