import { Worker } from "node:worker_threads";
import { errorMessage } from "../model/errors.js";

/**
 * Starts a worker with the process's flags, but not one that only applies to `-e` text, nor
 * the V8 flags a worker refuses (`node --max-old-space-size=… crwatch`: its heap is set by
 * resourceLimits): Node names those in its error, and they are left out.
 */
export function startWorker(url: URL, maxOldGenerationSizeMb: number): Worker {
  const options = (execArgv: string[]) => ({
    execArgv,
    resourceLimits: { maxOldGenerationSizeMb },
  });
  const execArgv = process.execArgv.filter((flag) => !flag.startsWith("--input-type"));
  try {
    return new Worker(url, options(execArgv));
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw err;
    const refused = new Set(errorMessage(err).split(": ").slice(1).join(": ").split(/,\s*/));
    return new Worker(url, options(execArgv.filter((flag) => !refused.has(flag))));
  }
}
