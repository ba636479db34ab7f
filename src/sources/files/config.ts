/**
 * Settings of a `files` source: which files hold the resources, and how eagerly to re-read
 * them. Paths may be relative; they are resolved against the process's working directory
 * (the config loader resolves them against the config file first).
 */
export interface FilesSourceConfig {
  name: string;
  type: "files";
  /**
   * Files, directories or globs. A named file is always read (include and exclude do not
   * apply: naming it is the choice). A directory is walked and filtered by include and
   * exclude. A glob is walked from its base directory; its own pattern replaces include,
   * exclude still applies.
   */
  paths: string[];
  /** Globs relative to each watched directory; default: YAML and JSON files. */
  include?: string[];
  /** Globs relative to each watched directory or glob base; a matching directory is not entered. */
  exclude?: string[];
  /** Wait after the first file event of a burst before reading what it named; default 50 ms. */
  debounceMs?: number;
  /** Files larger than this are reported (CRW_FILE_TOO_LARGE), not read; default 5 MiB. */
  maxFileBytes?: number;
  /**
   * Nodes a YAML document may hold once its aliases and merge keys are expanded; more is
   * refused as a possible alias bomb (CRW_YAML_ALIAS_LIMIT). Default 1,000,000.
   */
  maxExpandedNodes?: number;
  /**
   * A path missing at start is always reported (CRW_PATH_MISSING), kept (nothing under it
   * is taken as deleted) and watched until it appears; nothing about it is fatal. This flag
   * only says whether that is expected: true logs it at info level, false (default) warns.
   */
  waitForPaths?: boolean;
}

export type ResolvedFilesSourceConfig = Required<FilesSourceConfig>;

export const FILES_SOURCE_DEFAULTS = {
  include: ["**/*.yaml", "**/*.yml", "**/*.json"],
  exclude: [] as string[],
  debounceMs: 50,
  maxFileBytes: 5 * 1024 * 1024,
  maxExpandedNodes: 1_000_000,
  waitForPaths: false,
} as const;

export function withFilesDefaults(config: FilesSourceConfig): ResolvedFilesSourceConfig {
  return {
    name: config.name,
    type: "files",
    paths: [...config.paths],
    include: [...(config.include ?? FILES_SOURCE_DEFAULTS.include)],
    exclude: [...(config.exclude ?? FILES_SOURCE_DEFAULTS.exclude)],
    debounceMs: config.debounceMs ?? FILES_SOURCE_DEFAULTS.debounceMs,
    maxFileBytes: config.maxFileBytes ?? FILES_SOURCE_DEFAULTS.maxFileBytes,
    maxExpandedNodes: config.maxExpandedNodes ?? FILES_SOURCE_DEFAULTS.maxExpandedNodes,
    waitForPaths: config.waitForPaths ?? FILES_SOURCE_DEFAULTS.waitForPaths,
  };
}

/** JSON Schema of one `files` entry in crwatch.yaml (the config loader composes these). */
export const filesSourceSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type", "paths"],
  properties: {
    name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", maxLength: 63 },
    type: { const: "files" },
    paths: { type: "array", items: { type: "string", minLength: 1 }, minItems: 1 },
    include: { type: "array", items: { type: "string", minLength: 1 } },
    exclude: { type: "array", items: { type: "string", minLength: 1 } },
    debounceMs: { type: "integer", minimum: 0, maximum: 60_000 },
    maxFileBytes: { type: "integer", minimum: 1 },
    maxExpandedNodes: { type: "integer", minimum: 1 },
    waitForPaths: { type: "boolean" },
  },
} as const;
