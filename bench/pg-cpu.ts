import { readFileSync } from "node:fs";
import { postgresUrl } from "../test/helpers.js";
import { pgQuery } from "../test/postgres.js";

/** Linux's USER_HZ: /proc/PID/stat counts CPU time in these ticks. */
const TICKS_PER_S = 100;

/** The test server's URL with connections named `app`, so their backends can be found. */
export function namedUrl(app: string): string {
  const url = new URL(postgresUrl);
  url.searchParams.set("application_name", app);
  return url.toString();
}

/**
 * CPU time (user + system, ms) the server's backends for connections named `app` have used
 * so far: the server's share of a phase, which wall time alone hides on a shared machine.
 * Read from /proc, so only for a server on this machine; null elsewhere. Call it while
 * those connections are still open (a backend's time goes with it).
 */
export async function serverCpuMs(app: string): Promise<number | null> {
  const rows = await pgQuery<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
    [app],
  );
  let ticks = 0;
  for (const { pid } of rows) {
    try {
      // Fields 14 and 15 (utime, stime); the command name (field 2) may hold spaces.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return null;
    }
  }
  return (ticks * 1000) / TICKS_PER_S;
}

/** µs per change of a CPU time in ms, null when it could not be read. */
export function usPer(ms: number | null, changes: number): number | null {
  return ms === null ? null : Math.round((ms * 1000) / Math.max(1, changes));
}
