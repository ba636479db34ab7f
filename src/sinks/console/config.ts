import type { SinkCommonConfig } from "../config-schema.js";

export interface ConsoleSinkConfig extends SinkCommonConfig {
  type: "console";
  /** Colour when writing to a terminal (default), always, or never. */
  color?: "auto" | "always" | "never";
  /** Summary lines shown per change before `… N more` (default 40). */
  maxLines?: number;
}

/** This sink's own settings; the registry adds the common block (name, filter, delivery). */
export const consoleSinkSchema = {
  properties: {
    type: { const: "console" },
    color: { enum: ["auto", "always", "never"] },
    maxLines: { type: "integer", minimum: 1 },
  },
} as const;
