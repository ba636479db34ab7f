import { open } from "node:fs/promises";
import type { Change } from "../../model/change.js";
import { allDelivered, type DeliveryOutcome, type Sink } from "../sink.js";
import { writeAll } from "../write-stream.js";
import type { JsonlSinkConfig } from "./config.js";

/**
 * One JSON object per line, the same shape as `crwatch history --output json`. Written to
 * a file with fsync per batch, because the dispatcher moves its cursor on as soon as
 * `deliver` returns: a line the cursor has passed must be on disk.
 */
export function createJsonlSink(
  config: JsonlSinkConfig,
  stdout: NodeJS.WritableStream = process.stdout,
): Sink {
  const path = config.path ?? "-";
  let file: Awaited<ReturnType<typeof open>> | null = null;
  // fsync is for regular files: on a FIFO or a pipe it fails (EINVAL) after the write went
  // through, and a retry would write every change twice.
  let durable = false;
  return {
    name: config.name,
    type: "jsonl",
    async deliver(changes: readonly Change[]): Promise<DeliveryOutcome[]> {
      const text = changes.map((c) => `${JSON.stringify(c)}\n`).join("");
      if (path === "-") {
        await writeAll(stdout, text);
      } else {
        if (!file) {
          file = await open(path, "a");
          durable = (await file.stat()).isFile();
        }
        await file.appendFile(text);
        if (durable) await file.sync();
      }
      return allDelivered(changes);
    },
    async close() {
      await file?.close();
      file = null;
    },
  };
}
