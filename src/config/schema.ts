import { type ConsoleSinkConfig, consoleSinkSchema } from "../sinks/console/config.js";
import { type JsonlSinkConfig, jsonlSinkSchema } from "../sinks/jsonl/config.js";
import { type FilesSourceConfig, filesSourceSchema } from "../sources/files/config.js";

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

/** Each component owns its config type and schema (`<component>/config.ts`); this composes them. */
export type SourceConfig = FilesSourceConfig;
export type SinkConfig = ConsoleSinkConfig | JsonlSinkConfig;

const stringList = { type: "array", items: { type: "string", minLength: 1 } };

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
        oneOf: [filesSourceSchema],
      },
    },
    sinks: {
      type: "array",
      items: {
        type: "object",
        discriminator: { propertyName: "type" },
        required: ["type"],
        oneOf: [consoleSinkSchema, jsonlSinkSchema],
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
