import { type ApiConfig, apiConfigSchema } from "../api/config.js";
import type { JsonSchema } from "../model/component.js";
import {
  type PolicyConfig,
  policySchema,
  rulesSchema,
  type UserRuleConfig,
} from "../rules/index.js";
import type { SinkConfig } from "../sinks/registry.js";
import { SINK_TYPES } from "../sinks/registry.js";
import { SOURCE_TYPES, type SourceConfig } from "../sources/registry.js";
import { STORE_TYPES, type StoreConfig } from "../store/registry.js";

export type { ApiConfig, SinkConfig, SourceConfig, StoreConfig };

/** The shape of crwatch.yaml after defaults. */
export interface CrwatchConfig {
  store: StoreConfig;
  sources: SourceConfig[];
  sinks: SinkConfig[];
  /** User rules in CEL, beside the built-in catalog. */
  rules: UserRuleConfig[];
  /** Inputs of the built-in catalog (allowed hosts, approved actors, protected resources …). */
  policy: PolicyConfig;
  ingest: {
    /** Keep `status` in stored objects (dropped by default). */
    keepStatus: boolean;
    /** Extra dotted paths to drop before diffing, e.g. `metadata.annotations["x/y"]`. */
    ignorePaths: string[];
    /** Extra field names whose values are secrets (beyond the built-in list). */
    secretKeys: string[];
    /** Build worker threads for encode and diff: a number, or "auto" (cores - 1). */
    workers: number | "auto";
  };
  /** HMAC key for secret masks (or CRWATCH_MASK_KEY). */
  maskKey?: string;
  /** A file holding the mask key (or CRWATCH_MASK_KEY_FILE); for stores with no data directory. */
  maskKeyFile?: string;
  /**
   * The key before a deliberate rotation (or CRWATCH_MASK_KEY_PREVIOUS): a store written
   * with it takes the new key, records one CRW_MASK_KEY_ROTATED GAP, and re-masks unchanged
   * objects silently.
   */
  maskKeyPrevious?: string;
  /** A file holding the previous key (or CRWATCH_MASK_KEY_PREVIOUS_FILE). */
  maskKeyPreviousFile?: string;
  /**
   * How long a stop waits for sinks to deliver what is committed; then it names the stuck
   * sinks and exits, their cursors where they are (the next start delivers). Default 10 s.
   */
  shutdownGraceMs: number;
  /** Delivery defaults for every sink; a sink's own `delivery` block overrides them. */
  delivery: {
    maxAttempts: number;
    initialDelayMs: number;
    maxDelayMs: number;
    batchSize: number;
    timeoutMs: number;
    ratePerSecond: number;
  };
  /** The HTTP API, watch streams and UI; absent: no API is served. */
  api?: ApiConfig;
}

const stringList = { type: "array", items: { type: "string", minLength: 1 } };

/** One entry of a component list: the `type` picks which registered schema applies. */
function oneOfTypes(types: readonly { schema: JsonSchema }[]): JsonSchema {
  return {
    type: "object",
    discriminator: { propertyName: "type" },
    required: ["type"],
    oneOf: types.map((t) => t.schema),
  };
}

/**
 * JSON Schema of crwatch.yaml, checked by ajv with the discriminator on `type`. The
 * component parts come from the registries, so a new component needs no edit here.
 */
export const configSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    // An entry without `type` is the embedded default: the loader fills in `sqlite` first.
    store: oneOfTypes(STORE_TYPES),
    sources: { type: "array", items: oneOfTypes(SOURCE_TYPES) },
    sinks: { type: "array", items: oneOfTypes(SINK_TYPES) },
    rules: rulesSchema,
    policy: policySchema,
    ingest: {
      type: "object",
      additionalProperties: false,
      properties: {
        keepStatus: { type: "boolean" },
        ignorePaths: stringList,
        secretKeys: stringList,
        workers: { oneOf: [{ type: "integer", minimum: 0, maximum: 64 }, { const: "auto" }] },
      },
    },
    maskKey: { type: "string", minLength: 16 },
    shutdownGraceMs: { type: "integer", minimum: 0 },
    maskKeyFile: { type: "string", minLength: 1 },
    maskKeyPrevious: { type: "string", minLength: 16 },
    maskKeyPreviousFile: { type: "string", minLength: 1 },
    delivery: {
      type: "object",
      additionalProperties: false,
      properties: {
        maxAttempts: { type: "integer", minimum: 1 },
        initialDelayMs: { type: "integer", minimum: 1 },
        maxDelayMs: { type: "integer", minimum: 1 },
        batchSize: { type: "integer", minimum: 1, maximum: 10_000 },
        timeoutMs: { type: "integer", minimum: 1 },
        ratePerSecond: { type: "number", minimum: 0 },
      },
    },
    api: apiConfigSchema,
  },
} as const;
