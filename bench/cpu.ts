import { readFileSync } from "node:fs";
/**
 * Adds up the CPU time (user + system, not wall time: the machine is shared, and a
 * preempted section must not count) of synchronous sections.
 */
export class Stopwatch {
  ms = 0;

  time<T>(fn: () => T): T {
    const t0 = process.cpuUsage();
    try {
      return fn();
    } finally {
      this.ms += cpuMsSince(t0);
    }
  }
}

/** CPU time (user + system) of this process since `from`, in ms. */
export function cpuMsSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}

/**
 * Wraps every method of `target` so that the time until each returned promise settles
 * counts on `watch`. The SQLite store's methods are synchronous SQLite calls behind a promise, so
 * this is their CPU time, whoever awaits them.
 */
export function timed<T extends object>(target: T, watch: Stopwatch, only?: string[]): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== "function") return value;
      if (only && !only.includes(String(prop))) return value.bind(obj);
      return (...args: unknown[]) => watch.time(() => value.apply(obj, args));
    },
  });
}

/**
 * CPU time (user + system) of the ingest (main) thread alone, in ms, from
 * /proc/self/task/<pid>/stat (clock ticks, 10 ms); NaN where /proc is missing. With build
 * workers the process total mixes threads that run in parallel: the ingest thread's share is
 * the serial part, what bounds throughput once other threads have cores to run on.
 */
export function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
