import type { ChangeType } from "../../model/change.js";
import { changeTypesSchema, sinkNameSchema } from "../config-schema.js";

export interface JsonlSinkConfig {
  name: string;
  type: "jsonl";
  /** Deliver only these change types (default: all). */
  types?: ChangeType[];
  /** File to append to; `-` (default) is standard output. */
  path?: string;
}

export const jsonlSinkSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type"],
  properties: {
    name: sinkNameSchema,
    type: { const: "jsonl" },
    types: changeTypesSchema,
    path: { type: "string", minLength: 1 },
  },
} as const;
