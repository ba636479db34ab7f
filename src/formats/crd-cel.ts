import { Environment } from "@marcbachmann/cel-js";
import { isJsonObject, type JsonObject, type JsonValue } from "../model/json.js";

/** One schema problem of one resource, with the JSON pointer of the field. */
export interface SchemaProblem {
  path: string;
  message: string;
}

/** One `x-kubernetes-validations` rule, compiled. */
interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  program: (context: Record<string, unknown>) => unknown;
}

/** How many of a schema's CEL rules crwatch runs, and how many it cannot (yet). */
export interface CelStats {
  compiled: number;
  /** Transition rules (`oldSelf`) and rules the CEL library does not parse (Kubernetes extensions). */
  skipped: number;
}

export interface CelValidator {
  validate(object: JsonValue): SchemaProblem[];
  stats: CelStats;
}

const env = new Environment({ homogeneousAggregateLiterals: false }).registerVariable(
  "self",
  "dyn",
);

/**
 * Runs a CRD version's `x-kubernetes-validations` rules the way the API server does on
 * create: `self` is the value at the schema node. Rules on `oldSelf` (updates only), rules
 * this CEL library cannot parse, and rules that fail to evaluate here are skipped, never
 * reported: a lint must not invent errors the cluster would not raise.
 */
export function celValidator(schema: JsonObject): CelValidator {
  const rules = new Map<JsonObject, CelRule[]>();
  const stats: CelStats = { compiled: 0, skipped: 0 };
  compileAll(schema, rules, stats);
  return {
    stats,
    validate: (object) => {
      if (rules.size === 0) return [];
      const problems: SchemaProblem[] = [];
      check(schema, toCel(object), "", rules, problems);
      return problems;
    },
  };
}

function compileAll(node: JsonValue, rules: Map<JsonObject, CelRule[]>, stats: CelStats): void {
  if (Array.isArray(node)) {
    for (const item of node) compileAll(item, rules, stats);
    return;
  }
  if (!isJsonObject(node)) return;
  const validations = node["x-kubernetes-validations"];
  if (Array.isArray(validations)) {
    const compiled: CelRule[] = [];
    for (const v of validations) {
      const rule = compileOne(v);
      if (rule) compiled.push(rule);
      else stats.skipped++;
    }
    stats.compiled += compiled.length;
    if (compiled.length > 0) rules.set(node, compiled);
  }
  for (const [key, value] of Object.entries(node)) {
    if (key !== "x-kubernetes-validations") compileAll(value, rules, stats);
  }
}

function compileOne(v: JsonValue): CelRule | undefined {
  if (!isJsonObject(v) || typeof v.rule !== "string" || /\boldSelf\b/.test(v.rule))
    return undefined;
  try {
    if (!env.check(v.rule).valid) return undefined;
    const program = env.parse(v.rule);
    return {
      rule: v.rule,
      message: typeof v.message === "string" ? v.message : `failed rule: ${v.rule}`,
      ...(typeof v.fieldPath === "string" && { fieldPath: v.fieldPath }),
      program,
    };
  } catch {
    return undefined;
  }
}

/** Walks the schema beside the value: properties, items, additionalProperties. */
function check(
  schema: JsonObject,
  value: unknown,
  path: string,
  rules: Map<JsonObject, CelRule[]>,
  problems: SchemaProblem[],
): void {
  if (value === undefined || value === null) return;
  for (const rule of rules.get(schema) ?? []) {
    let result: unknown;
    try {
      result = rule.program({ self: value });
    } catch {
      continue; // see celValidator: an evaluation this library cannot do is not an error
    }
    if (result === false)
      problems.push({ path: path + fieldPointer(rule.fieldPath), message: rule.message });
  }
  if (Array.isArray(value)) {
    if (isJsonObject(schema.items)) {
      for (const [i, item] of value.entries())
        check(schema.items, item, `${path}/${i}`, rules, problems);
    }
    return;
  }
  if (typeof value !== "object") return;
  const record = value as Record<string, unknown>;
  const properties = isJsonObject(schema.properties) ? schema.properties : {};
  for (const [key, child] of Object.entries(record)) {
    const sub = properties[key] ?? schema.additionalProperties;
    if (isJsonObject(sub)) check(sub, child, `${path}/${escapeToken(key)}`, rules, problems);
  }
}

/** `.spec.foo` (a rule's fieldPath) → `/spec/foo`. */
function fieldPointer(fieldPath: string | undefined): string {
  if (!fieldPath) return "";
  return fieldPath
    .split(".")
    .filter(Boolean)
    .map((t) => `/${escapeToken(t)}`)
    .join("");
}

function escapeToken(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** CEL tells int from double: whole JSON numbers become ints, as the API server reads them. */
function toCel(value: JsonValue): unknown {
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (isJsonObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  }
  return value;
}
