import type { Finding, Severity } from "../model/change.js";
import { SEVERITIES } from "./config.js";

/** info 0 … critical 4. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** For `--fail-on`: true when a finding reaches the threshold. */
export function meetsSeverity(findings: Finding[], threshold: Severity): boolean {
  return findings.some((f) => severityRank(f.severity) >= severityRank(threshold));
}
