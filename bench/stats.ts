import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { heapFlags, withNodeOptions } from "../src/cli/heap.js";

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** The kernel's high-water mark of this process's resident memory, in MiB. */
export function peakRssMib(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** A figure beside its target, and whether it holds. */
export function vsTarget(
  value: number,
  target: number,
  better: "lower" | "higher",
): { value: number; target: number; holds: boolean } {
  const holds = better === "lower" ? value <= target : value >= target;
  return { value, target: round(target), holds };
}

const childPath = fileURLToPath(new URL("./child.js", import.meta.url));

/**
 * Runs one measurement in a fresh Node process, so that its peak RSS (the kernel's
 * high-water mark, which misses no spike, unlike a timer that never fires while a
 * throughput loop runs in microtasks) holds that measurement's memory and nothing else.
 */
export function inChild(
  task: string,
  args: Record<string, unknown>,
  nodeArgs: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeArgs, childPath, task, JSON.stringify(args)],
      { maxBuffer: 64 * 1024 * 1024, env },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`bench task ${task} failed: ${err.message}\n${stderr}`));
        const lines = stdout.trim().split("\n");
        resolve(JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>);
      },
    );
  });
}

/**
 * A measurement of crwatch itself, under the heap limits `crwatch serve` starts with
 * (src/cli/heap.ts; CRWATCH_HEAP_MIB=off measures V8's defaults): users get those, so the
 * bench measures them. The flags used are part of the result.
 */
export async function crwatchInChild(
  task: string,
  args: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const flags = heapFlags(process.env, process.execArgv);
  const result = await inChild(task, args, [], withNodeOptions(process.env, flags));
  return { ...result, heapFlags: flags.join(" ") || "none (V8 defaults)" };
}

/** Peak RSS of this process, sampled every 100 ms (for scenarios that run in-process). */
export class RssSampler {
  private peak = process.memoryUsage().rss;
  private readonly timer = setInterval(() => {
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
  }, 100);

  stop(): number {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
    return Math.round(this.peak / 1024 / 1024);
  }
}
