import type { ChangeType } from "../model/change.js";

/** The shape of crwatch.yaml after defaults. Later issues extend the unions. */
export interface CrwatchConfig {
  store: { path: string };
  sources: SourceConfig[];
  sinks: SinkConfig[];
  rules: unknown[];
  ingest: {
    /** Keep `status` in stored objects (dropped by default). */
    keepStatus: boolean;
    /** Extra dotted paths to drop before diffing, e.g. `metadata.annotations["x/y"]`. */
    ignorePaths: string[];
    /** Extra field names whose values are secrets (beyond the built-in list). */
    secretKeys: string[];
  };
  /** HMAC key for secret masks; by default a random key kept in the data directory. */
  maskKey?: string;
  delivery: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number; batchSize: number };
}

export interface FilesSourceSettings {
  name: string;
  type: "files";
  paths: string[];
  include?: string[];
  exclude?: string[];
  debounceMs?: number;
  maxFileBytes?: number;
  waitForPaths?: boolean;
}
export type SourceConfig = FilesSourceSettings;

interface SinkCommon {
  name: string;
  /** Deliver only these change types (default: all). */
  types?: ChangeType[];
}
export type SinkConfig =
  | (SinkCommon & { type: "console"; color?: "auto" | "always" | "never"; maxLines?: number })
  | (SinkCommon & { type: "jsonl"; path?: string });

const name = { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", maxLength: 63 };
const stringList = { type: "array", items: { type: "string", minLength: 1 } };
const changeTypes = {
  type: "array",
  items: { enum: ["ADDED", "MODIFIED", "DELETED", "GAP", "ERROR"] },
};

const filesSource = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type", "paths"],
  properties: {
    name,
    type: { const: "files" },
    paths: { ...stringList, minItems: 1 },
    include: stringList,
    exclude: stringList,
    debounceMs: { type: "integer", minimum: 0, maximum: 60_000 },
    maxFileBytes: { type: "integer", minimum: 1 },
    waitForPaths: { type: "boolean" },
  },
};

const consoleSink = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type"],
  properties: {
    name,
    type: { const: "console" },
    types: changeTypes,
    color: { enum: ["auto", "always", "never"] },
    maxLines: { type: "integer", minimum: 1 },
  },
};

const jsonlSink = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type"],
  properties: {
    name,
    type: { const: "jsonl" },
    types: changeTypes,
    path: { type: "string", minLength: 1 },
  },
};

/** JSON Schema of crwatch.yaml, checked by ajv with the discriminator on `type`. */
export const configSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    store: {
      type: "object",
      additionalProperties: false,
      properties: { path: { type: "string", minLength: 1 } },
    },
    sources: {
      type: "array",
      items: {
        type: "object",
        discriminator: { propertyName: "type" },
        required: ["type"],
        oneOf: [filesSource],
      },
    },
    sinks: {
      type: "array",
      items: {
        type: "object",
        discriminator: { propertyName: "type" },
        required: ["type"],
        oneOf: [consoleSink, jsonlSink],
      },
    },
    rules: { type: "array" },
    ingest: {
      type: "object",
      additionalProperties: false,
      properties: {
        keepStatus: { type: "boolean" },
        ignorePaths: stringList,
        secretKeys: stringList,
      },
    },
    maskKey: { type: "string", minLength: 16 },
    delivery: {
      type: "object",
      additionalProperties: false,
      properties: {
        maxAttempts: { type: "integer", minimum: 1 },
        initialDelayMs: { type: "integer", minimum: 1 },
        maxDelayMs: { type: "integer", minimum: 1 },
        batchSize: { type: "integer", minimum: 1, maximum: 10_000 },
      },
    },
  },
} as const;
