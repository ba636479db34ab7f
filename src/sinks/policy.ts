import {
  type Change,
  type ChangeType,
  NOTICE_TYPES,
  RESOURCE_CHANGE_TYPES,
  type Severity,
} from "../model/change.js";

/** Which changes a sink wants. Unset fields match everything. */
export interface ChangeFilter {
  types?: ChangeType[];
  sources?: string[];
  /** Kinds, optionally with their group: `HTTPRoute` or `HTTPRoute.gateway.networking.k8s.io`. */
  kinds?: string[];
  namespaces?: string[];
  /** Only changes with a finding at least this severe (notices always pass). */
  minSeverity?: Severity;
}

/**
 * How the dispatcher delivers to one sink. One block, shared by every sink type and applied
 * by the dispatcher, so no sink re-declares retries or filters.
 */
export interface SinkPolicy {
  /** Changes read from the log and handed to the sink at most at once. */
  batchSize: number;
  /** Attempts per change before it is dead-lettered. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** A `deliver` call that takes longer is aborted and retried. */
  timeoutMs: number;
  /** Changes per second at most (0: no limit). */
  ratePerSecond: number;
  filter: ChangeFilter;
}

export const DEFAULT_SINK_POLICY: SinkPolicy = {
  batchSize: 500,
  maxAttempts: 10,
  initialDelayMs: 200,
  maxDelayMs: 30_000,
  timeoutMs: 30_000,
  ratePerSecond: 0,
  filter: {},
};

const SEVERITY_ORDER: Severity[] = ["info", "low", "medium", "high", "critical"];

const stringList = { type: "array", items: { type: "string", minLength: 1 } } as const;

export const changeFilterSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    types: { type: "array", items: { enum: [...RESOURCE_CHANGE_TYPES, ...NOTICE_TYPES] } },
    sources: stringList,
    kinds: stringList,
    namespaces: stringList,
    minSeverity: { enum: SEVERITY_ORDER },
  },
} as const;

export const sinkPolicySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    batchSize: { type: "integer", minimum: 1, maximum: 10_000 },
    maxAttempts: { type: "integer", minimum: 1 },
    initialDelayMs: { type: "integer", minimum: 1 },
    maxDelayMs: { type: "integer", minimum: 1 },
    timeoutMs: { type: "integer", minimum: 1 },
    ratePerSecond: { type: "number", minimum: 0 },
  },
} as const;

/**
 * Why a change is not for this sink, or undefined when it is. A reason rather than a
 * boolean (see Pepr's filters), so every silence can be explained in a debug log.
 */
export function skipReason(change: Change, filter: ChangeFilter): string | undefined {
  const { ref } = change;
  if (filter.types && filter.types.length > 0 && !filter.types.includes(change.type))
    return `type ${change.type} is not in ${filter.types.join(", ")}`;
  if (filter.sources && !filter.sources.includes(ref.source))
    return `source ${ref.source} is not in ${filter.sources.join(", ")}`;
  if (filter.kinds && !filter.kinds.some((k) => k === ref.kind || k === `${ref.kind}.${ref.group}`))
    return `kind ${ref.kind} is not in ${filter.kinds.join(", ")}`;
  if (filter.namespaces && !filter.namespaces.includes(ref.namespace))
    return `namespace ${ref.namespace || "(none)"} is not in ${filter.namespaces.join(", ")}`;
  if (filter.minSeverity && change.notice === null) {
    const min = SEVERITY_ORDER.indexOf(filter.minSeverity);
    if (!change.findings.some((f) => SEVERITY_ORDER.indexOf(f.severity) >= min))
      return `no finding reaches ${filter.minSeverity}`;
  }
  return undefined;
}
