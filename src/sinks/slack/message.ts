import type { Change, Finding, Severity } from "../../model/change.js";
import { formatRef } from "../../model/ref.js";
import type { TemplateView } from "./template.js";

export const DEFAULT_TEMPLATE =
  "*{{type}}* `{{resource}}`{{#actor}} by {{actor}}{{/actor}}{{#cause}} ({{cause}}){{/cause}}" +
  "{{#finding}}\n:warning: {{finding}}{{/finding}}{{#diff}}\n{{diff}}{{/diff}}";

/** The names a template may use. */
export const VIEW_NAMES = [
  "type",
  "resource",
  "actor",
  "cause",
  "finding",
  "severity",
  "diff",
  "seq",
  "id",
  "notice",
  "location",
] as const;

const SEVERITY_ORDER: Severity[] = ["info", "low", "medium", "high", "critical"];

/** What a message template sees of a change: short strings, already summarised. */
export function viewOf(change: Change, maxDiffLines: number): TemplateView {
  const top = highestFinding(change.findings);
  return {
    type: change.type,
    resource: formatRef(change.ref),
    actor: change.actor
      ? change.actor.name + (change.actor.via ? ` via ${change.actor.via}` : "")
      : "",
    cause: change.cause ? causeText(change.cause) : "",
    finding: top ? `[${top.severity.toUpperCase()}] ${top.ruleId}: ${top.message}` : "",
    severity: top?.severity ?? "",
    diff: diffText(change.summary, maxDiffLines),
    seq: String(change.seq),
    id: change.id,
    notice: change.notice ? `${change.notice.code}: ${change.notice.message}` : "",
    location: change.location
      ? `${change.location.path}${change.location.line ? `:${change.location.line}` : ""}`
      : "",
  };
}

function highestFinding(findings: readonly Finding[]): Finding | undefined {
  let top: Finding | undefined;
  for (const f of findings) {
    if (!top || SEVERITY_ORDER.indexOf(f.severity) > SEVERITY_ORDER.indexOf(top.severity)) top = f;
  }
  return top;
}

function causeText(cause: NonNullable<Change["cause"]>): string {
  const firstLine = cause.message?.split("\n")[0]?.trim();
  const id = cause.id ? ` ${cause.id.slice(0, 12)}` : "";
  return `${cause.kind}${id}${firstLine ? `: ${firstLine}` : ""}`;
}

function diffText(summary: readonly string[], max: number): string {
  const shown = summary.slice(0, max).map((line) => `• ${line}`);
  if (summary.length > max) shown.push(`… ${summary.length - max} more`);
  return shown.join("\n");
}

/** Slack's mrkdwn escaping: only `&`, `<` and `>` are control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
