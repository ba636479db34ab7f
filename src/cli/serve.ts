import { existsSync } from "node:fs";
import { getHeapStatistics } from "node:v8";
import type { Command } from "commander";
import { loadConfig } from "../config/load.js";
import { createLogger, LOG_LEVELS, type LogLevel } from "../logger.js";
import { startCrwatch } from "../main.js";
import { CrwatchError } from "../model/errors.js";
import { collect } from "./common.js";

interface ServeFlags {
  config?: string;
  dataDir?: string;
  watch?: string[];
  apiListen?: string;
  logLevel: string;
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("watch the configured sources and record every change until SIGINT/SIGTERM")
    .option(
      "--config <file>",
      "crwatch.yaml (default: ./crwatch.yaml when it exists and no --watch is given)",
    )
    .option("--data-dir <dir>", "where the history is stored (overrides store.path)")
    .option(
      "--watch <path>",
      "watch a file, directory or glob (repeatable; a files source named `files`)",
      collect,
    )
    .option(
      "--api-listen <host:port>",
      "the API's address (overrides api.listen; each replica of a shared store needs its own)",
    )
    .option("--log-level <level>", `one of ${LOG_LEVELS.join(", ")}`, "info")
    .action(async (flags: ServeFlags) => serve(flags));
}

async function serve(flags: ServeFlags): Promise<void> {
  if (!LOG_LEVELS.includes(flags.logLevel as LogLevel)) {
    throw new CrwatchError("CRW_USAGE", `--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  }
  const log = createLogger(flags.logLevel as LogLevel);
  const configPath =
    flags.config ?? (!flags.watch && existsSync("crwatch.yaml") ? "crwatch.yaml" : undefined);
  const config = await loadConfig({
    ...(configPath ? { configPath } : {}),
    ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
    ...(flags.watch ? { watch: flags.watch } : {}),
    ...(flags.apiListen ? { apiListen: flags.apiListen } : {}),
  });
  if (config.sources.length === 0) {
    throw new CrwatchError(
      "CRW_USAGE",
      "nothing to watch: pass --config crwatch.yaml or --watch PATH",
    );
  }
  // Listen before starting: a signal during the initial scan still gets a clean stop.
  const stopRequested = waitForSignal(log);
  const crwatch = await startCrwatch(config, { log });
  if (crwatch.apiUrl) log.info({ url: crwatch.apiUrl }, `API and UI at ${crwatch.apiUrl}`);
  // Sources start concurrently and in the background; say when all have their first view.
  crwatch
    .ready()
    .then(() =>
      log.info(
        {
          dataDir: config.store.path,
          sources: config.sources.map((s) => s.name),
          // What the heap may grow to (decision 0029): old space plus young generation.
          heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 1024 / 1024),
        },
        "crwatch is watching",
      ),
    )
    .catch(() => undefined);
  const signal = await stopRequested;
  log.info("stopping: flushing pending changes (send the signal again to exit at once)");
  if (!(await stopsInTime(crwatch, config.shutdownGraceMs))) {
    log.warn(
      { sinks: crwatch.unfinishedSinks(), graceMs: config.shutdownGraceMs },
      "sinks still delivering after the shutdown grace period; exiting without them (their cursors stay, the next start delivers)",
    );
    exitBySignal(signal);
    return;
  }
  log.info("stopped");
  // Everything is committed and delivered; do not wait on a stray handle of a dependency.
  process.exit(0);
}

/** Whether the stop finished within the grace period. */
async function stopsInTime(crwatch: { stop(): Promise<void> }, graceMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  const result = await Promise.race([crwatch.stop().then(() => true as const), grace]);
  clearTimeout(timer);
  return result;
}

/**
 * Ends the process by the signal's default action: `process.exit` would wait for libuv's
 * threads, and a sink stuck in a blocking call (a FIFO with no reader) would hang it.
 */
function exitBySignal(signal: NodeJS.Signals): void {
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  process.kill(process.pid, signal);
}

/**
 * Resolves on the first SIGINT/SIGTERM. A second one ends the process at once by the signal
 * itself (default action): `process.exit` would wait for libuv's threads, and a sink stuck
 * in a blocking call (a FIFO with no reader, a hung NFS mount) would then hang the exit.
 * Nothing is lost: committed changes stay in the log and the sinks' cursors did not move.
 */
function waitForSignal(log: { warn: (msg: string) => void }): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      received++;
      if (received === 1) return resolve(signal);
      log.warn(`${signal} again: exiting without flushing`);
      exitBySignal(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
