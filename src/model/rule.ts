import type { Finding, PatchOp, ResourceChangeType } from "./change.js";
import type { JsonObject } from "./json.js";
import type { Ref } from "./ref.js";

/** What a rule sees of one change: both sides are canonical and masked. */
export interface RuleInput {
  type: ResourceChangeType;
  ref: Ref;
  before: JsonObject | null;
  after: JsonObject | null;
  patch: PatchOp[];
}

/** The rules engine as ingest sees it (the rules issue fills in the catalogue and CEL). */
export type EvaluateRules = (input: RuleInput) => Finding[];
