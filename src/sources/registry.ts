import type { SourceConfig } from "../config/schema.js";
import { createFilesSource } from "./files/source.js";
import type { Source } from "./source.js";

/** Source types as data: the composition root looks a type up here and builds it. */
export const sourceFactories: {
  [T in SourceConfig["type"]]: (config: Extract<SourceConfig, { type: T }>) => Source;
} = {
  files: (config) => createFilesSource(config),
};

export function buildSource(config: SourceConfig): Source {
  return sourceFactories[config.type](config);
}
