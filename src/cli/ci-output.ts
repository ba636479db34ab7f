import { relative, sep } from "node:path";
import type { Change, Finding, Severity } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import { meetsSeverity, type RuleExplanation, SEVERITIES } from "../rules/index.js";

/** What CI commands print and how they fail: shared by `diff` and `lint`. */
/** `none`: findings are reported, never fail the command. */
export type FailOn = Severity | "none";

export function parseFailOn(value: string): FailOn {
  const v = value.toLowerCase();
  if (v === "none" || (SEVERITIES as readonly string[]).includes(v)) return v as FailOn;
  throw new CrwatchError(
    "CRW_USAGE",
    `--fail-on must be one of none, ${SEVERITIES.join(", ")}; got "${value}"`,
  );
}

export type OutputFormat = "text" | "json" | "sarif";

export function parseOutput(value: string, allowed: readonly OutputFormat[]): OutputFormat {
  if ((allowed as readonly string[]).includes(value)) return value as OutputFormat;
  throw new CrwatchError("CRW_USAGE", `--output must be ${allowed.join(", ")}; got "${value}"`);
}

/** True when a finding reaches the threshold: the command then exits 1. */
export function fails(findings: Finding[], failOn: FailOn): boolean {
  return failOn !== "none" && meetsSeverity(findings, failOn);
}

/**
 * A finding as the CLI prints it in JSON: `rule` (the name CI tools expect) beside `ruleId`
 * (the stored name, kept so nothing reading it breaks); the rationale with `--explain`.
 */
export function findingJson(
  finding: Finding & { line?: number },
  explain?: (id: string) => RuleExplanation | undefined,
): Record<string, unknown> {
  const rationale = explain?.(finding.ruleId)?.rationale;
  return { rule: finding.ruleId, ...finding, ...(rationale !== undefined && { rationale }) };
}

/** A change as `history`, `show` and `diff` print it in JSON. */
export function changeJson<C extends Pick<Change, "findings">>(
  change: C,
  explain?: (id: string) => RuleExplanation | undefined,
): Omit<C, "findings"> & { findings: Record<string, unknown>[] } {
  return { ...change, findings: change.findings.map((f) => findingJson(f, explain)) };
}

/** `--explain` in text: each fired rule once, with its severity, scope and why it matters. */
export function explainText(
  ids: Iterable<string>,
  explain: (id: string) => RuleExplanation | undefined,
): string {
  const lines: string[] = [];
  for (const id of [...new Set(ids)].sort()) {
    const e = explain(id);
    if (!e) continue;
    lines.push(`${id} (${e.severity}, ${e.origin}, ${e.match})`, `  ${e.rationale}`);
  }
  return lines.length > 0 ? `\nWhy these rules fired:\n${lines.join("\n")}\n` : "";
}

/** A path as SARIF wants it: relative to the working directory, with forward slashes. */
export function sarifUri(path: string): string {
  const rel = relative(process.cwd(), path);
  return (rel.startsWith("..") ? path : rel).split(sep).join("/");
}
