import type { SinkCommonConfig } from "../config-schema.js";

export interface JsonlSinkConfig extends SinkCommonConfig {
  type: "jsonl";
  /** File to append to; `-` (default) is standard output. */
  path?: string;
}

/** This sink's own settings; the registry adds the common block (name, filter, delivery). */
export const jsonlSinkSchema = {
  properties: {
    type: { const: "jsonl" },
    path: { type: "string", minLength: 1 },
  },
} as const;
