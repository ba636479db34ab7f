import type { Severity } from "../model/change.js";
import type { JsonObject } from "../model/json.js";
import type { RuleInput } from "../model/rule.js";
import type { Policy } from "./policy.js";

/** What a built-in rule is handed: the change, both sides, the policy and a name for messages. */
export interface RuleContext {
  input: RuleInput;
  before: JsonObject | null;
  after: JsonObject | null;
  policy: Policy;
  /** `HTTPRoute shop/storefront`: how messages name the resource. */
  name: string;
}

/** One thing a rule found: a message with before/after values, the JSON pointer it is about. */
export interface Hit {
  message: string;
  path: string;
  /** Overrides the rule's default severity (e.g. CORS `*` with credentials is worse). */
  severity?: Severity;
}

/** Resources a rule judges: an API group and, optionally, kinds (never a version). */
export interface Match {
  group: string;
  kinds?: string[];
}

export interface BuiltinRule {
  /** Stable, `ecosystem/what` (e.g. `envoy-gateway/auth-removed`). */
  id: string;
  severity: Severity;
  /** Empty: every resource. */
  match: Match[];
  /** Why this matters, shown by `--explain`. */
  rationale: string;
  /** True when the rule can judge one state alone (`crwatch lint`): it then sees before = null. */
  singleState?: boolean;
  /**
   * True when the rule keeps memory across changes (a burst counter): it runs in commit
   * order in the ingest thread, never in a build worker, and sees no objects (before and
   * after are null), only the change's ref, type, patch and times.
   */
  stateful?: boolean;
  check(ctx: RuleContext): Hit[];
}
