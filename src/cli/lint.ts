import { resolve } from "node:path";
import type { Command } from "commander";
import { type LintReport, type LintResult, lintPaths, SCHEMA_RULE } from "../compose/lint.js";
import { loadConfig } from "../config/load.js";
import { createRuleEngine, type RuleExplanation, toSarif } from "../rules/index.js";
import {
  explainText,
  type FailOn,
  fails,
  findingJson,
  type OutputFormat,
  parseFailOn,
  parseOutput,
  sarifUri,
} from "./ci-output.js";
import { collect } from "./common.js";

interface LintFlags {
  schemas?: string[];
  config?: string;
  output: string;
  failOn: string;
  explain?: boolean;
}

export function registerLint(program: Command): void {
  program
    .command("lint")
    .description(
      "validate manifests against their CRDs (schema and x-kubernetes-validations) and run the single-state rules",
    )
    .argument("<paths...>", "files or directories of manifests")
    .option("--schemas <path>", "CRD YAML file or directory (repeatable)", collect)
    .option("--config <file>", "take rules, policy and ingest settings from a crwatch config")
    .option("--output <format>", "text, json or sarif", "text")
    .option(
      "--fail-on <severity>",
      "exit 1 when a finding is at least this severe (none, info, low, medium, high, critical)",
      "high",
    )
    .option("--explain", "print why each rule that fired matters")
    .action(async (paths: string[], flags: LintFlags) => {
      const output = parseOutput(flags.output, ["text", "json", "sarif"]);
      const failOn = parseFailOn(flags.failOn);
      const config = await loadConfig(flags.config ? { configPath: flags.config } : {});
      const engine = createRuleEngine({
        policy: config.policy,
        rules: config.rules,
        singleState: true,
      });
      const explain = (id: string) => explainLintRule(id) ?? engine.explain(id);
      const report = await lintPaths(
        config,
        paths.map((p) => resolve(p)),
        (flags.schemas ?? []).map((p) => resolve(p)),
      );
      print(report, output, explain, flags.explain === true);
      if (exitsWithFailure(report, failOn)) process.exitCode = 1;
    });
}

/** What `--explain` and SARIF say of the findings lint makes besides the rules. */
function explainLintRule(id: string): RuleExplanation | undefined {
  if (id === SCHEMA_RULE) {
    return {
      id,
      severity: "high",
      origin: "builtin",
      match: "resources whose CRD was given with --schemas",
      rationale:
        "The resource breaks its CRD's OpenAPI v3 schema or one of its x-kubernetes-validations rules: the API server would refuse it, so the change would never take effect (or a GitOps sync would stall).",
    };
  }
  if (id.startsWith("CRW_")) {
    return {
      id,
      severity: "high",
      origin: "builtin",
      match: "any file",
      rationale:
        "The file or document could not be read as a resource: whatever it was meant to configure is not what the gateway will see.",
    };
  }
  return undefined;
}

function print(
  report: LintReport,
  output: OutputFormat,
  explain: (id: string) => RuleExplanation | undefined,
  withExplain: boolean,
): void {
  const findings = report.results.flatMap((r) => r.findings);
  if (output === "sarif") {
    const located = report.results.flatMap((r) =>
      r.findings.map((finding) => ({
        finding,
        resource: r.resource,
        file: sarifUri(r.file),
        ...((finding.line ?? r.line) !== undefined && { line: finding.line ?? r.line }),
      })),
    );
    process.stdout.write(`${JSON.stringify(toSarif(located, explain), null, 2)}\n`);
    return;
  }
  if (output === "json") {
    const results = report.results.map((r) => ({
      ...r,
      file: sarifUri(r.file),
      findings: r.findings.map((f) => findingJson(f, withExplain ? explain : undefined)),
    }));
    process.stdout.write(`${JSON.stringify({ results, summary: summary(report) })}\n`);
    return;
  }
  const lines = report.results.flatMap(textLines);
  const s = summary(report);
  lines.push(
    `${s.resources} resource(s) linted, ${s.validated} against a CRD (${s.crds} CRD(s) loaded), ${s.findings} finding(s)`,
  );
  const unknown = Object.entries(report.unknownKinds);
  if (unknown.length > 0) {
    lines.push(
      `${unknown.reduce((n, [, c]) => n + c, 0)} resource(s) not schema-checked, no CRD given for: ${unknown.map(([k, c]) => `${k} (${c})`).join("; ")}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  if (withExplain)
    process.stdout.write(
      explainText(
        findings.map((f) => f.ruleId),
        explain,
      ),
    );
}

function textLines(result: LintResult): string[] {
  const doc = result.document !== undefined ? ` document ${result.document}` : "";
  return result.findings.map(
    (f) =>
      `${sarifUri(result.file)}:${f.line ?? result.line ?? 1}:${doc} ${result.resource}: [${f.severity}] ${f.ruleId}${f.path && !f.message.includes(f.path) ? ` at ${f.path}` : ""}: ${f.message}`,
  );
}

function summary(report: LintReport) {
  return {
    resources: report.results.filter((r) => r.ref !== null).length,
    validated: report.results.filter((r) => r.validated).length,
    unreadable: report.results.filter((r) => r.ref === null).length,
    findings: report.results.reduce((n, r) => n + r.findings.length, 0),
    crds: report.crds,
    unknownKinds: report.unknownKinds,
  };
}

function exitsWithFailure(report: LintReport, failOn: FailOn): boolean {
  return fails(
    report.results.flatMap((r) => r.findings),
    failOn,
  );
}
