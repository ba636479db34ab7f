import { NOTICE_TYPES, RESOURCE_CHANGE_TYPES } from "../model/change.js";

/** Schema pieces every sink's config shares. */
export const sinkNameSchema = {
  type: "string",
  pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
  maxLength: 63,
} as const;

export const changeTypesSchema = {
  type: "array",
  items: { enum: [...RESOURCE_CHANGE_TYPES, ...NOTICE_TYPES] },
} as const;
