import { Environment } from "@marcbachmann/cel-js";
import type { Severity } from "../model/change.js";
import { errorMessage } from "../model/errors.js";
import { isJsonObject, type JsonObject, type JsonValue } from "../model/json.js";
import type { RuleInput } from "../model/rule.js";
import type { UserRuleConfig } from "./config.js";
import { get } from "./lib/values.js";

/** A user rule compiled once at config load. */
export interface CompiledUserRule {
  id: string;
  severity: Severity;
  match: { group?: string; kind?: string };
  on?: string[];
  path: string;
  rationale: string;
  /** True when the rule fires; throws on an evaluation error (the engine turns that into a finding). */
  test(input: RuleInput): boolean;
  message(input: RuleInput): string;
}

/** Where a user rule does not compile: `rules[2]` (id), the field and, for CEL, the position. */
export interface RuleCompileError {
  index: number;
  id: string;
  field: "expression" | "message" | "id";
  message: string;
  line?: number;
  column?: number;
}

/**
 * `old` and `new` are the resource before and after (null when absent), `change` the
 * metadata (type, source, group, kind, namespace, name, actor, via, observedAt).
 */
function environment(): Environment {
  return new Environment({ homogeneousAggregateLiterals: false })
    .registerVariable("old", "dyn")
    .registerVariable("new", "dyn")
    .registerVariable("change", "map");
}

const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g;
const META = new Set([
  "ref",
  "kind",
  "name",
  "namespace",
  "group",
  "source",
  "type",
  "actor",
  "id",
]);
const SIDE_PATH = /^(old|new)(\.[A-Za-z0-9_-]+)*$/;

export function compileUserRules(configs: UserRuleConfig[]): {
  rules: CompiledUserRule[];
  errors: RuleCompileError[];
} {
  const env = environment();
  const rules: CompiledUserRule[] = [];
  const errors: RuleCompileError[] = [];
  const ids = new Set<string>();
  configs.forEach((config, index) => {
    const fail = (e: Omit<RuleCompileError, "index" | "id">) =>
      errors.push({ index, id: config.id, ...e });
    if (ids.has(config.id)) fail({ field: "id", message: `duplicate rule id "${config.id}"` });
    ids.add(config.id);
    const badPlaceholder = [...config.message.matchAll(PLACEHOLDER)]
      .map((m) => m[1] ?? "")
      .find((p) => !META.has(p) && !SIDE_PATH.test(p));
    if (badPlaceholder !== undefined) {
      fail({
        field: "message",
        message: `unknown placeholder {{${badPlaceholder}}}; use ${[...META].map((m) => `{{${m}}}`).join(", ")}, {{old.<field>}} or {{new.<field>}}`,
      });
    }
    const checked = env.check(config.expression);
    if (!checked.valid) {
      const err = checked.error;
      const pos = err?.range?.start ?? (err?.node as { pos?: number } | undefined)?.pos ?? 0;
      fail({
        field: "expression",
        message: err?.summary ?? firstLine(errorMessage(err)),
        ...lineColumn(config.expression, pos),
      });
      return;
    }
    if (checked.type !== "bool" && checked.type !== "dyn") {
      fail({
        field: "expression",
        message: `the expression gives ${checked.type}, not bool`,
        line: 1,
        column: 1,
      });
      return;
    }
    const program = env.parse(config.expression);
    rules.push({
      id: config.id,
      severity: config.severity,
      match: config.match ?? {},
      ...(config.on && { on: config.on }),
      path: config.path ?? "",
      rationale: config.rationale ?? `user rule: ${config.expression}`,
      test: (input) => {
        const result = program(celContext(input));
        if (typeof result !== "boolean")
          throw new Error(`the expression gave ${typeof result}, not a bool`);
        return result;
      },
      message: (input) => render(config.message, input, config.id),
    });
  });
  return { rules, errors };
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0] ?? text;
}

/** CEL tells int from double: whole JSON numbers become ints, so `new.x > old.x * 2` type-checks at run time. */
function toCel(value: JsonValue | undefined): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (isJsonObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  return value;
}

function metadata(input: RuleInput): Record<string, string> {
  const { ref } = input;
  return {
    type: input.type,
    source: ref.source,
    group: ref.group,
    kind: ref.kind,
    namespace: ref.namespace,
    name: ref.name,
    actor: input.actor?.name ?? "",
    via: input.actor?.via ?? "",
    observedAt: input.observedAt ?? "",
  };
}

/** Built once per change however many user rules judge it (the conversion is the dear part). */
const contexts = new WeakMap<RuleInput, Record<string, unknown>>();

function celContext(input: RuleInput): Record<string, unknown> {
  let context = contexts.get(input);
  if (!context) {
    context = { old: toCel(input.before), new: toCel(input.after), change: metadata(input) };
    contexts.set(input, context);
  }
  return context;
}

function render(template: string, input: RuleInput, id: string): string {
  const meta = metadata(input);
  const { ref } = input;
  return template.replace(PLACEHOLDER, (_, name: string) => {
    if (name === "id") return id;
    if (name === "ref") return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
    if (META.has(name)) return meta[name] ?? "";
    const [side, ...path] = name.split(".");
    const value = get((side === "old" ? input.before : input.after) as JsonObject | null, path);
    return value === undefined
      ? "(absent)"
      : typeof value === "string"
        ? value
        : JSON.stringify(value);
  });
}
