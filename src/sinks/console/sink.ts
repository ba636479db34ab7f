import { renderChange } from "../../core/render-change.js";
import type { Change } from "../../model/change.js";
import { allDelivered, type DeliveryOutcome, type Sink } from "../sink.js";
import { writeAll } from "../write-stream.js";
import type { ConsoleSinkConfig } from "./config.js";

/** Prints each change for a person watching the terminal. */
export function createConsoleSink(
  config: ConsoleSinkConfig,
  out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): Sink {
  const color = config.color === "always" || (config.color !== "never" && out.isTTY === true);
  return {
    name: config.name,
    type: "console",
    async deliver(changes: readonly Change[]): Promise<DeliveryOutcome[]> {
      const text = changes
        .map((c) => renderChange(c, { color, maxLines: config.maxLines ?? 40 }))
        .join("\n");
      await writeAll(out, `${text}\n`);
      return allDelivered(changes);
    },
    async close() {},
  };
}
