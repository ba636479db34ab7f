import { resolve } from "node:path";
import type { ComponentType } from "../model/component.js";
import { type FilesSourceConfig, filesSourceSchema } from "./files/config.js";
import { createFilesSource } from "./files/source.js";
import type { Source } from "./source.js";

/** What a source may be given when it is built (its state lives in the store, not here). */
export interface SourceDeps {
  /** A directory the source may keep working files in (a Git clone), under the data directory. */
  workDir: string;
}

export type SourceConfig = FilesSourceConfig;

export type SourceType<C extends SourceConfig = SourceConfig> = ComponentType<
  C,
  SourceDeps,
  Source
>;

const files: SourceType<FilesSourceConfig> = {
  type: "files",
  schema: filesSourceSchema,
  resolvePaths: (config, baseDir) => ({
    ...config,
    paths: config.paths.map((p) => resolve(baseDir, p)),
  }),
  create: (config, deps) => createFilesSource(config, {}, deps.workDir),
};

/** Source types as data: the config schema is composed from this list, the root builds from it. */
export const SOURCE_TYPES = [files] as readonly SourceType[];
