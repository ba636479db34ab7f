import type { ChangeType } from "../../model/change.js";
import { changeTypesSchema, sinkNameSchema } from "../config-schema.js";

export interface ConsoleSinkConfig {
  name: string;
  type: "console";
  /** Deliver only these change types (default: all). */
  types?: ChangeType[];
  /** Colour when writing to a terminal (default), always, or never. */
  color?: "auto" | "always" | "never";
  /** Summary lines shown per change before `… N more` (default 40). */
  maxLines?: number;
}

export const consoleSinkSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type"],
  properties: {
    name: sinkNameSchema,
    type: { const: "console" },
    types: changeTypesSchema,
    color: { enum: ["auto", "always", "never"] },
    maxLines: { type: "integer", minimum: 1 },
  },
} as const;
