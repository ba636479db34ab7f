/** The rules engine's public face: what the config loader, ingest and the CLI use. */
export type { CompiledUserRule, RuleCompileError } from "./cel.js";
export {
  type PolicyConfig,
  policySchema,
  rulesSchema,
  SEVERITIES,
  type UserRuleConfig,
} from "./config.js";
export {
  checkUserRules,
  createRuleEngine,
  formatCompileError,
  RULE_FAILED,
  type RuleEngine,
  type RuleEngineOptions,
  type RuleExplanation,
} from "./engine.js";
export { type LocatedFinding, toSarif } from "./sarif.js";
export { meetsSeverity, severityRank } from "./severity.js";
