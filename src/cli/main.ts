#!/usr/bin/env node
/**
 * The `crwatch` command. `serve` runs under a heap limit (heap.ts, decision 0029), and V8
 * takes one only when a process starts: when it is not set yet, this process starts `serve`
 * again with it. Nothing else is imported until then, so the process that only relaunches
 * stays small; the CLI itself is program.ts.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { HEAP_ENV, heapFlags, withNodeOptions } from "./heap.js";

/** Set in the relaunched process: it never relaunches again, whatever its environment. */
const RELAUNCHED = "CRWATCH_RELAUNCHED";
/** Signals a relaunching parent passes on (the child runs in its own process group). */
const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

function launch(): void {
  const flags = relaunchFlags();
  if (flags === undefined) return;
  if (flags.length > 0) {
    relaunch({ ...withNodeOptions(process.env, flags), [RELAUNCHED]: "1" });
    return;
  }
  if (process.env[RELAUNCHED] === "1" && process.connected) followParent();
  void import("./program.js");
}

/** The flags to relaunch with; undefined after reporting a bad setting (exit code 2). */
function relaunchFlags(): string[] | undefined {
  if (process.argv[2] !== "serve" || process.env[RELAUNCHED] === "1") return [];
  try {
    return heapFlags(process.env, process.execArgv);
  } catch (err) {
    const code = (err as { code?: string }).code;
    process.stderr.write(`crwatch: ${code ? `${code}: ` : ""}${(err as Error).message}\n`);
    process.exitCode = 2;
    return undefined;
  }
}

function relaunch(env: NodeJS.ProcessEnv): void {
  const args = [...process.execArgv, ...process.argv.slice(1)];
  // Node ≥ 22.15 replaces this process (same pid, nothing in between).
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve === "function")
    execve.call(process, process.execPath, [process.execPath, ...args], env);
  // Node 20 cannot: a child does the work and this process stands in for it. The child gets
  // its own process group so that a Ctrl-C reaches it once (forwarded), not twice: a second
  // signal means "exit without flushing" to `serve`.
  const child = spawn(process.execPath, args, {
    env,
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    detached: true,
  });
  for (const signal of FORWARDED) process.on(signal, () => child.kill(signal));
  child.on("error", (err) => {
    process.stderr.write(`crwatch: could not start serve: ${err.message}\n`);
    process.exit(2);
  });
  child.on("exit", (code, signal) => exitLike(code, signal));
}

/** Ends this process the way the child ended: its exit code, or its signal. */
function exitLike(code: number | null, signal: NodeJS.Signals | null): void {
  if (!signal) process.exit(code ?? 1);
  if (signal === "SIGABRT") {
    // How V8 ends a process whose heap reached its limit (the child printed its report).
    process.stderr.write(
      `crwatch: serve aborted; if the report above says "heap out of memory", raise ${HEAP_ENV} (decision 0029)\n`,
    );
  }
  for (const s of FORWARDED) process.removeAllListeners(s);
  process.kill(process.pid, signal);
  // A signal whose default action is not to end the process: the shell's convention.
  setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100).unref();
}

/**
 * In a child started by the Node 20 launcher: when the launcher dies (kill -9), go with it
 * at once, as the one process it stands for would have.
 */
function followParent(): void {
  process.on("disconnect", () => process.kill(process.pid, "SIGKILL"));
  process.channel?.unref();
}

launch();
