import type { Finding, Severity } from "../model/change.js";
import { CrwatchError, errorMessage } from "../model/errors.js";
import type { Ref } from "../model/ref.js";
import type { EvaluateRules, RuleInput } from "../model/rule.js";
import { builtinRules } from "./catalog/index.js";
import { type CompiledUserRule, compileUserRules, type RuleCompileError } from "./cel.js";
import type { PolicyConfig, UserRuleConfig } from "./config.js";
import { compilePolicy } from "./policy.js";
import type { BuiltinRule, Match, RuleContext } from "./types.js";

export interface RuleEngineOptions {
  policy?: PolicyConfig;
  rules?: UserRuleConfig[];
  /** Only rules that can judge one state alone (`crwatch lint`: each resource as if ADDED). */
  singleState?: boolean;
  /** Replaces the built-in catalog (tests). */
  catalog?: BuiltinRule[];
  /**
   * Only the rules that judge one change alone (build workers run them), or only those with
   * memory across changes (run in commit order by ingest); default all.
   */
  part?: "stateless" | "stateful";
}

/** What `--explain` shows of one rule. */
export interface RuleExplanation {
  id: string;
  severity: Severity;
  origin: "builtin" | "user";
  rationale: string;
  match: string;
}

/** The engine as ingest calls it, and what the CLI asks of it. */
export interface RuleEngine extends EvaluateRules {
  explain(id: string): RuleExplanation | undefined;
  ids(): string[];
}

/** Stable code at the head of a finding that says a rule failed, not that it fired. */
export const RULE_FAILED = "CRW_RULE_FAILED";

/**
 * Builds the rules engine: the built-in catalog (less `policy.disable`) and the user's CEL
 * rules. Throws CRW_RULE_COMPILE (all errors at once) or CRW_RULE_CONFIG: call it when the
 * config is loaded, so a bad rule stops `serve` / `diff` at start, not mid-stream.
 */
export function createRuleEngine(options: RuleEngineOptions = {}): RuleEngine {
  const compiled = compileUserRules(options.rules ?? []);
  const errors = compiled.errors;
  if (errors.length > 0) {
    throw new CrwatchError("CRW_RULE_COMPILE", errors.map(formatCompileError).join("\n"), {
      cause: errors,
    });
  }
  const policy = compilePolicy(options.policy);
  const known = new Set((options.catalog ?? builtinRules()).map((r) => r.id));
  const unknown = [...policy.disabled].filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new CrwatchError(
      "CRW_RULE_CONFIG",
      `policy.disable names unknown rules: ${unknown.join(", ")}`,
    );
  }
  const inPart = (r: BuiltinRule) =>
    options.part === undefined || (options.part === "stateful") === (r.stateful === true);
  const builtins = (options.catalog ?? builtinRules()).filter(
    (r) => !policy.disabled.has(r.id) && (!options.singleState || r.singleState) && inPart(r),
  );
  const users = options.singleState || options.part === "stateful" ? [] : compiled.rules;
  const evaluate = (input: RuleInput): Finding[] => {
    const ctx: RuleContext = {
      input,
      before: input.before,
      after: input.after,
      policy,
      name: displayName(input.ref),
    };
    return [
      ...builtins.filter((r) => matches(r.match, input.ref)).flatMap((r) => runBuiltin(r, ctx)),
      ...users.filter((r) => userMatches(r, input)).flatMap((r) => runUser(r, input)),
    ];
  };
  const explanations = new Map<string, RuleExplanation>([
    ...builtins.map((r) => [r.id, explainBuiltin(r)] as const),
    ...users.map((r) => [r.id, explainUser(r)] as const),
  ]);
  return Object.assign(evaluate, {
    explain: (id: string) => explanations.get(id),
    ids: () => [...explanations.keys()],
  });
}

/** Compile errors of user rules, for the config loader to report with file positions. */
export function checkUserRules(rules: UserRuleConfig[]): RuleCompileError[] {
  return compileUserRules(rules).errors;
}

export function formatCompileError(e: RuleCompileError): string {
  const at = e.line !== undefined ? `:${e.line}:${e.column}` : "";
  return `rules[${e.index}] (${e.id}): ${e.field}${at}: ${e.message}`;
}

function runBuiltin(rule: BuiltinRule, ctx: RuleContext): Finding[] {
  try {
    return rule.check(ctx).map((hit) => ({
      ruleId: rule.id,
      severity: hit.severity ?? rule.severity,
      message: hit.message,
      path: hit.path,
    }));
  } catch (err) {
    return [failed(rule.id, ctx.name, err)];
  }
}

function runUser(rule: CompiledUserRule, input: RuleInput): Finding[] {
  try {
    if (!rule.test(input)) return [];
    return [
      { ruleId: rule.id, severity: rule.severity, message: rule.message(input), path: rule.path },
    ];
  } catch (err) {
    return [failed(rule.id, displayName(input.ref), err)];
  }
}

/** A throwing rule is a finding naming it: the change is kept, and the failure is on record. */
function failed(id: string, name: string, err: unknown): Finding {
  const reason = errorMessage(err).split("\n", 1)[0];
  return {
    ruleId: id,
    severity: "info",
    message: `${RULE_FAILED}: rule ${id} failed on ${name}: ${reason}`,
    path: "",
  };
}

function matches(match: Match[], ref: Ref): boolean {
  return (
    match.length === 0 ||
    match.some((m) => m.group === ref.group && (!m.kinds || m.kinds.includes(ref.kind)))
  );
}

function userMatches(rule: CompiledUserRule, input: RuleInput): boolean {
  const { group, kind } = rule.match;
  return (
    (group === undefined || group === input.ref.group) &&
    (kind === undefined || kind === input.ref.kind) &&
    (!rule.on || rule.on.includes(input.type))
  );
}

function displayName(ref: Ref): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
}

function explainBuiltin(rule: BuiltinRule): RuleExplanation {
  const match =
    rule.match.length === 0
      ? "any resource"
      : rule.match.map((m) => `${m.kinds?.join("|") ?? "*"}.${m.group}`).join(", ");
  return {
    id: rule.id,
    severity: rule.severity,
    origin: "builtin",
    rationale: rule.rationale,
    match,
  };
}

function explainUser(rule: CompiledUserRule): RuleExplanation {
  const match = `${rule.match.kind ?? "*"}.${rule.match.group ?? "*"}`;
  return { id: rule.id, severity: rule.severity, origin: "user", rationale: rule.rationale, match };
}
