import type { Finding, PatchOp, ResourceChangeType } from "./change.js";
import type { JsonObject } from "./json.js";
import type { Actor, Cause } from "./observation.js";
import type { Ref } from "./ref.js";

/** What a rule sees of one change: both sides are canonical and masked. */
export interface RuleInput {
  type: ResourceChangeType;
  ref: Ref;
  before: JsonObject | null;
  after: JsonObject | null;
  patch: PatchOp[];
  /** Who made the change, when the source can tell (approved-actor rules need it). */
  actor?: Actor | null;
  cause?: Cause | null;
  /** ISO-8601 time the source saw the change; the burst rule counts in this time, not the wall clock. */
  observedAt?: string;
}

/** The rules engine as ingest sees it (the rules issue fills in the catalogue and CEL). */
export type EvaluateRules = (input: RuleInput) => Finding[];
