import {
  type ChangeType,
  NOTICE_TYPES,
  RESOURCE_CHANGE_TYPES,
  type Severity,
} from "../model/change.js";
import type { ChangeQuery } from "../store/store.js";
import { badParameter } from "./errors.js";
import type { ParamSchema } from "./params.js";

const SEVERITIES: Severity[] = ["info", "low", "medium", "high", "critical"];
const text = (description: string) => ({ type: "string", minLength: 1, description });

/** The filters the change list and the watch stream share (one schema, one meaning). */
export const FILTER_PROPERTIES: ParamSchema["properties"] = {
  source: text("source name, exactly"),
  group: { type: "string", description: "API group, exactly (empty for the core group)" },
  kind: text("kind, exactly"),
  namespace: { type: "string", description: "namespace, exactly (empty for cluster-scoped)" },
  name: text("name, exactly"),
  ref: text("case-insensitive substring of `source:Kind.group namespace/name`"),
  actor: text("actor name, exactly"),
  type: {
    type: "array",
    items: { enum: [...RESOURCE_CHANGE_TYPES, ...NOTICE_TYPES] },
    description: "change types, comma-separated",
  },
  severity: {
    type: "array",
    items: { enum: SEVERITIES },
    description: "changes with a finding of one of these severities, comma-separated",
  },
  from: text("committed at or after this ISO-8601 time"),
  to: text("committed before this ISO-8601 time"),
};

export interface FilterParams {
  source?: string;
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  ref?: string;
  actor?: string;
  type?: ChangeType[];
  severity?: Severity[];
  from?: string;
  to?: string;
}

function isoTime(value: string, parameter: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw badParameter(parameter, "must be an ISO-8601 time");
  return new Date(ms).toISOString();
}

/** Query parameters → the store's filter fields (no seq window, order or limit). */
export function filterOf(params: FilterParams): ChangeQuery {
  const query: ChangeQuery = {};
  if (params.source !== undefined) query.source = params.source;
  if (params.group !== undefined) query.group = params.group;
  if (params.kind !== undefined) query.kind = params.kind;
  if (params.namespace !== undefined) query.namespace = params.namespace;
  if (params.name !== undefined) query.name = params.name;
  if (params.ref !== undefined) query.refContains = params.ref;
  if (params.actor !== undefined) query.actor = params.actor;
  if (params.type?.length) query.types = params.type;
  if (params.severity?.length) query.severities = params.severity;
  if (params.from !== undefined) query.committedFrom = isoTime(params.from, "from");
  if (params.to !== undefined) query.committedTo = isoTime(params.to, "to");
  return query;
}
