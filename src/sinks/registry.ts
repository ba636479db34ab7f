import type { SinkConfig } from "../config/schema.js";
import { createConsoleSink } from "./console/sink.js";
import { createJsonlSink } from "./jsonl/sink.js";
import type { Sink } from "./sink.js";

export interface SinkDeps {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Sink types as data: the composition root looks a type up here and builds it. */
export function buildSink(config: SinkConfig, deps: SinkDeps): Sink {
  switch (config.type) {
    case "console":
      return createConsoleSink(config, deps.stdout);
    case "jsonl":
      return createJsonlSink(config, deps.stdout);
  }
}
