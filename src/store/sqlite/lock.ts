import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { CrwatchError } from "../../model/errors.js";

const LOCK_FILE = "serve.lock";

/**
 * One writer per data directory: two `crwatch serve` on one SQLite history would each keep
 * their own heads in memory and record every change twice. The lock file holds the pid; a
 * lock left by a process that is gone (kill -9, a crash) is taken over.
 */
export async function acquireWriterLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new CrwatchError("CRW_STORE_OPEN", `cannot create ${path}`, { cause: err });
      }
      const holder = Number((await readFile(path, "utf8").catch(() => "")).split("\n")[0]);
      if (holder && holder !== process.pid && (await isCrwatchServe(holder))) {
        throw new CrwatchError(
          "CRW_STORE_LOCKED",
          `another crwatch serve (pid ${holder}) is writing to ${dir}; stop it first ` +
            `(if pid ${holder} is not crwatch, remove ${path})`,
        );
      }
      await rm(path, { force: true }); // stale: its process is gone, or the pid was reused
    }
  }
  throw new CrwatchError("CRW_STORE_LOCKED", `could not take the writer lock ${path}`);
}

/**
 * Whether the pid still belongs to a crwatch serve. After a crash the pid may have been
 * reused by an unrelated process; where /proc exists its command line tells them apart.
 */
async function isCrwatchServe(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => undefined);
  if (cmdline === undefined) return true; // no /proc: assume the worst, refuse
  const args = cmdline.split("\0");
  return args.includes("serve") && args.some((a) => /crwatch|cli[/\\]main\.js$/.test(a));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
