import type { Severity } from "../model/change.js";

/**
 * The `rules` and `policy` blocks of crwatch.yaml, as types and as JSON Schema fragments
 * for the config loader to compose (this folder owns their shape; src/config/ owns loading).
 */

export const SEVERITIES: readonly Severity[] = ["info", "low", "medium", "high", "critical"];

/** A user rule: a CEL expression over `old`, `new` and `change`, true when the rule fires. */
export interface UserRuleConfig {
  id: string;
  /** Group and kind of the resources it judges; either may be omitted (then any). */
  match?: { group?: string; kind?: string };
  severity: Severity;
  expression: string;
  /** `{{ref}}`, `{{kind}}`, `{{name}}`, `{{namespace}}`, `{{group}}`, `{{source}}`, `{{type}}`, `{{actor}}`, `{{id}}`. */
  message: string;
  /** JSON pointer the finding is about; default the resource root. */
  path?: string;
  /** Change types it judges; default all three. */
  on?: ("ADDED" | "MODIFIED" | "DELETED")[];
  /** Shown by `--explain`. */
  rationale?: string;
}

export interface PolicyConfig {
  /** Upstream / AI provider hosts changes may point at; `*.example.org` matches subdomains. */
  allowedHosts?: string[];
  /** Per source name (or `*`): actor names allowed to change it; `*` is a wildcard. */
  approvedActors?: Record<string, string[]>;
  /** Resources whose deletion is critical: labels (all must match) or `Kind/namespace/name` globs. */
  protected?: { labels?: Record<string, string>; refs?: string[] };
  /** More than `changes` changes to one kind within `window` (`30s`, `5m`, `1h`) is a finding. */
  burst?: { changes: number; window: string };
  /** Built-in rule ids to turn off. */
  disable?: string[];
  /** A limit raised by at least this factor is a finding (default 2). */
  limitFactor?: number;
}

const severitySchema = { type: "string", enum: [...SEVERITIES] } as const;
const stringList = { type: "array", items: { type: "string" } } as const;

export const USER_RULE_ID = "^[A-Za-z0-9][A-Za-z0-9._/-]*$";

export const rulesSchema = {
  type: "array",
  items: {
    type: "object",
    additionalProperties: false,
    required: ["id", "severity", "expression", "message"],
    properties: {
      id: { type: "string", pattern: USER_RULE_ID },
      match: {
        type: "object",
        additionalProperties: false,
        properties: { group: { type: "string" }, kind: { type: "string" } },
      },
      severity: severitySchema,
      expression: { type: "string", minLength: 1 },
      message: { type: "string", minLength: 1 },
      path: { type: "string", pattern: "^(/.*)?$" },
      on: {
        type: "array",
        items: { type: "string", enum: ["ADDED", "MODIFIED", "DELETED"] },
      },
      rationale: { type: "string" },
    },
  },
} as const;

export const DURATION_PATTERN = "^[0-9]+(ms|s|m|h|d)$";

export const policySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    allowedHosts: stringList,
    approvedActors: { type: "object", additionalProperties: stringList },
    protected: {
      type: "object",
      additionalProperties: false,
      properties: {
        labels: { type: "object", additionalProperties: { type: "string" } },
        refs: stringList,
      },
    },
    burst: {
      type: "object",
      additionalProperties: false,
      required: ["changes", "window"],
      properties: {
        changes: { type: "integer", minimum: 1 },
        window: { type: "string", pattern: DURATION_PATTERN },
      },
    },
    disable: stringList,
    limitFactor: { type: "number", exclusiveMinimum: 1 },
  },
} as const;
