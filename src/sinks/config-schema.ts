import type { ChangeType } from "../model/change.js";
import type { JsonSchema } from "../model/component.js";
import {
  type ChangeFilter,
  changeFilterSchema,
  type SinkPolicy,
  sinkPolicySchema,
} from "./policy.js";

/** What every sink entry in crwatch.yaml has, whatever its type; the dispatcher applies it. */
export interface SinkCommonConfig {
  name: string;
  type: string;
  /** Shorthand for `filter.types`. */
  types?: ChangeType[];
  filter?: ChangeFilter;
  /** Overrides the top-level `delivery` defaults for this sink. */
  delivery?: Partial<Omit<SinkPolicy, "filter">>;
}

const commonProperties = {
  name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", maxLength: 63 },
  types: changeFilterSchema.properties.types,
  filter: changeFilterSchema,
  delivery: sinkPolicySchema,
} as const;

/** A sink type's own schema (its `properties`, `required`) with the common block added. */
export function sinkEntrySchema(own: JsonSchema): JsonSchema {
  const ownProperties = (own.properties ?? {}) as Record<string, unknown>;
  const ownRequired = (own.required ?? []) as string[];
  return {
    ...own,
    type: "object",
    additionalProperties: false,
    required: [...new Set(["name", "type", ...ownRequired])],
    properties: { ...commonProperties, ...ownProperties },
  };
}

/** The dispatcher's policy for one sink: global defaults, then the sink's own block. */
export function policyOf(
  entry: SinkCommonConfig,
  defaults: Partial<Omit<SinkPolicy, "filter">>,
): Partial<SinkPolicy> {
  const filter: ChangeFilter = { ...entry.filter };
  if (entry.types && !filter.types) filter.types = entry.types;
  return { ...defaults, ...entry.delivery, filter };
}
