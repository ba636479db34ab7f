import { readFileSync } from "node:fs";
import { constants, PerformanceObserver } from "node:perf_hooks";
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

/**
 * Pause time of this thread's garbage collections while it runs, in ms by kind (scavenges
 * of the young generation, mark-compacts of the old), from `gc` performance entries.
 */
export class GcTimer {
  private readonly ms = { minor: 0, major: 0, other: 0 };
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      const slot =
        kind === constants.NODE_PERFORMANCE_GC_MINOR
          ? "minor"
          : kind === constants.NODE_PERFORMANCE_GC_MAJOR
            ? "major"
            : "other";
      this.ms[slot] += entry.duration;
    }
  });

  constructor() {
    this.observer.observe({ entryTypes: ["gc"] });
  }

  /** Stops observing; the totals so far, rounded. */
  stop(): { minor: number; major: number; other: number } {
    for (const entry of this.observer.takeRecords()) this.ms.other += entry.duration;
    this.observer.disconnect();
    return {
      minor: Math.round(this.ms.minor),
      major: Math.round(this.ms.major),
      other: Math.round(this.ms.other),
    };
  }
}
