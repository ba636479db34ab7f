import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { LineFinder } from "../compose/lint.js";
import { type OfflineDiff, offlineDiffReport } from "../compose/offline-diff.js";
import { loadConfig } from "../config/load.js";
import type { CrwatchConfig } from "../config/schema.js";
import { renderChange } from "../core/render-change.js";
import type { Change } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import { createRuleEngine, type LocatedFinding, type RuleEngine, toSarif } from "../rules/index.js";
import {
  changeJson,
  explainText,
  type FailOn,
  fails,
  type OutputFormat,
  parseFailOn,
  parseOutput,
  sarifUri,
} from "./ci-output.js";

interface DiffFlags {
  output: string;
  config?: string;
  failOn: string;
  explain?: boolean;
}

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description(
      "compare two files or two directories offline; prints the changes from BEFORE to AFTER with their findings",
    )
    .argument("<before>", "file or directory")
    .argument("<after>", "file or directory")
    .option("--output <format>", "text, json (one change per line) or sarif", "text")
    .option(
      "--config <file>",
      "take rules, policy and ingest settings (secretKeys, ignorePaths, maskKey) from a crwatch config",
    )
    .option(
      "--fail-on <severity>",
      "exit 1 when a finding is at least this severe (none, info, low, medium, high, critical)",
      "none",
    )
    .option("--explain", "print why each rule that fired matters")
    .action(async (before: string, after: string, flags: DiffFlags) => {
      const output = parseOutput(flags.output, ["text", "json", "sarif"]);
      const failOn = parseFailOn(flags.failOn);
      const config = await loadConfig(flags.config ? { configPath: flags.config } : {});
      const engine = createRuleEngine({ policy: config.policy, rules: config.rules });
      const report = await diffPaths(resolve(before), resolve(after), config);
      await print(report.changes, output, engine, flags.explain === true);
      noteProblems(report);
      setExitCode(report.changes, failOn);
    });
}

/** The changes from BEFORE to AFTER, as `serve` with this config would record them. */
export async function diffPaths(
  before: string,
  after: string,
  config: CrwatchConfig,
): Promise<OfflineDiff> {
  for (const path of [before, after]) {
    await stat(path).catch((err) => {
      throw new CrwatchError("CRW_DIFF_INPUT", `${path} cannot be read`, { cause: err });
    });
  }
  return offlineDiffReport(config, before, after);
}

/**
 * Problems are changes only when they differ (as in the history): one AFTER still has
 * unchanged is not printed, one it fixed has no entry. Both are said on stderr, so that the
 * output stays one change per line and the reader still learns of them.
 */
function noteProblems(report: OfflineDiff): void {
  if (report.unchanged > 0)
    process.stderr.write(
      `crwatch: ${report.unchanged} problem(s) unchanged since BEFORE (not reported again)\n`,
    );
  if (report.fixed.length > 0) {
    const list = report.fixed.map((p) => `${p.path} (${p.code})`).join(", ");
    process.stderr.write(
      `crwatch: ${report.fixed.length} problem(s) of BEFORE fixed in AFTER: ${list}\n`,
    );
  }
}

async function print(
  changes: Change[],
  output: OutputFormat,
  engine: RuleEngine,
  explain: boolean,
): Promise<void> {
  if (output === "sarif") {
    const sarif = toSarif(await locate(changes), engine.explain);
    process.stdout.write(`${JSON.stringify(sarif, null, 2)}\n`);
    return;
  }
  for (const change of changes) {
    const { id, seq, hash, prevHash, committedAt, ...rest } = change;
    process.stdout.write(
      `${output === "json" ? JSON.stringify(changeJson(rest, explain ? engine.explain : undefined)) : renderChange(change, { color: process.stdout.isTTY === true, offline: true })}\n`,
    );
  }
  if (explain && output === "text") {
    process.stdout.write(
      explainText(
        changes.flatMap((c) => c.findings.map((f) => f.ruleId)),
        engine.explain,
      ),
    );
  }
}

/** Each finding at its file and, where the AFTER file holds the field, the field's line. */
async function locate(changes: Change[]): Promise<LocatedFinding[]> {
  const lines = new LineFinder();
  const located: LocatedFinding[] = [];
  for (const change of changes) {
    const loc = change.location;
    const { kind, namespace, name } = change.ref;
    const resource = `${kind} ${namespace ? `${namespace}/` : ""}${name}`;
    for (const finding of change.findings) {
      const line = loc
        ? ((await lines.lineOf(loc.path, loc.document, loc.field, finding.path ?? "")) ?? loc.line)
        : undefined;
      located.push({
        finding,
        resource,
        ...(loc && { file: sarifUri(loc.path) }),
        ...(line !== undefined && { line }),
      });
    }
  }
  return located;
}

/**
 * 2 when a file of AFTER could not be read in a way BEFORE could (the diff is incomplete: a
 * CI gate must not pass on it), else 1 when a finding reaches --fail-on, else 0. A file
 * broken identically on both sides hides no change, so it does not fail the gate.
 */
function setExitCode(changes: Change[], failOn: FailOn): void {
  const unreadable = changes.filter((c) => c.type === "ERROR");
  if (unreadable.length > 0) {
    process.stderr.write(
      `crwatch: CRW_DIFF_INPUT: ${unreadable.length} file(s) or document(s) could not be read; the diff is incomplete\n`,
    );
    process.exitCode = 2;
    return;
  }
  if (
    fails(
      changes.flatMap((c) => c.findings),
      failOn,
    )
  )
    process.exitCode = 1;
}
