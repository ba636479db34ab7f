import { existsSync, writeFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";

/**
 * A build worker that dies on its first batch (as one running out of memory on a hostile
 * object would), then, started again, is the real one.
 */
const { marker } = workerData as { marker: string };
if (existsSync(marker)) {
  await import("../src/compose/build-worker.js");
} else {
  parentPort?.once("message", () => {
    writeFileSync(marker, "");
    process.exit(3);
  });
}
