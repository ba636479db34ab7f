import type { Log } from "sarif";
import type { Finding, Severity } from "../model/change.js";
import type { RuleExplanation } from "./engine.js";

/** Where a finding was made, as CI shows it: a file and line (both optional). */
export interface LocatedFinding {
  finding: Finding;
  /** `HTTPRoute shop/web` or a ref text, for the message. */
  resource: string;
  file?: string;
  line?: number;
}

const LEVEL: Record<Severity, "note" | "warning" | "error"> = {
  info: "note",
  low: "note",
  medium: "warning",
  high: "error",
  critical: "error",
};

/** A SARIF 2.1.0 log of findings, for GitHub code scanning and other CI viewers. */
export function toSarif(
  findings: LocatedFinding[],
  explain: (id: string) => RuleExplanation | undefined,
  version = "0.1.0",
): Log {
  const ids = [...new Set(findings.map((f) => f.finding.ruleId))].sort();
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "crwatch",
            version,
            rules: ids.map((id) => {
              const e = explain(id);
              return {
                id,
                shortDescription: { text: id },
                ...(e && { fullDescription: { text: e.rationale } }),
                defaultConfiguration: { level: LEVEL[e?.severity ?? "info"] },
              };
            }),
          },
        },
        results: findings.map(({ finding, resource, file, line }) => ({
          ruleId: finding.ruleId,
          level: LEVEL[finding.severity],
          message: { text: finding.message },
          properties: {
            severity: finding.severity,
            resource,
            ...(finding.path !== undefined && { path: finding.path }),
          },
          ...(file && {
            locations: [
              {
                physicalLocation: {
                  artifactLocation: { uri: file },
                  ...(line !== undefined && { region: { startLine: line } }),
                },
              },
            ],
          }),
        })),
      },
    ],
  };
}
