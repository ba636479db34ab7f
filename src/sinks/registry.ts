import { resolve } from "node:path";
import type { Clock } from "../core/clock.js";
import type { ComponentType } from "../model/component.js";
import { sinkEntrySchema } from "./config-schema.js";
import type { ConsoleSinkConfig } from "./console/config.js";
import { consoleSinkSchema } from "./console/config.js";
import { createConsoleSink } from "./console/sink.js";
import { type JsonlSinkConfig, jsonlSinkSchema } from "./jsonl/config.js";
import { createJsonlSink } from "./jsonl/sink.js";
import type { Sink } from "./sink.js";

export interface SinkDeps {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  clock: Clock;
}

export type SinkConfig = ConsoleSinkConfig | JsonlSinkConfig;

export type SinkType<C extends SinkConfig = SinkConfig> = ComponentType<C, SinkDeps, Sink>;

const consoleSink: SinkType<ConsoleSinkConfig> = {
  type: "console",
  schema: sinkEntrySchema(consoleSinkSchema),
  create: (config, deps) => createConsoleSink(config, deps.stdout),
};

const jsonlSink: SinkType<JsonlSinkConfig> = {
  type: "jsonl",
  schema: sinkEntrySchema(jsonlSinkSchema),
  resolvePaths: (config, baseDir) =>
    config.path && config.path !== "-"
      ? { ...config, path: resolve(baseDir, config.path) }
      : config,
  create: (config, deps) => createJsonlSink(config, deps.stdout),
};

/** Sink types as data: the config schema is composed from this list, the root builds from it. */
export const SINK_TYPES = [consoleSink, jsonlSink] as readonly SinkType[];
