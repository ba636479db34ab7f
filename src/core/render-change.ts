import type { Change, PatchOp } from "../model/change.js";
import { formatRef } from "../model/ref.js";

export interface RenderOptions {
  color: boolean;
  /** For `crwatch diff`: no seq or revision numbers, which only a recorded history has. */
  offline?: boolean;
  /** Summary lines shown per change before `… N more`. */
  maxLines?: number;
}

const CODES = { red: 31, green: 32, yellow: 33, cyan: 36, dim: 2, bold: 1 } as const;
type Style = keyof typeof CODES;

/**
 * The human form of a change, shared by the console sink and `crwatch show`:
 * a header (`#12 MODIFIED local:HTTPRoute.gateway.networking.k8s.io shop/storefront r3`)
 * then one line per changed path, marked + (added), - (removed) or ~ (replaced).
 */
export function renderChange(change: Change, options: RenderOptions): string {
  const paint = (style: Style, text: string) =>
    options.color ? `\x1b[${CODES[style]}m${text}\x1b[0m` : text;
  const lines = [header(change, paint, options.offline === true)];
  if (change.notice)
    lines.push(`  ${paint("red", `${change.notice.code}: ${change.notice.message}`)}`);
  const max = options.maxLines ?? 40;
  change.summary.slice(0, max).forEach((line, i) => {
    lines.push(`  ${marker(change.patch[i], paint)} ${line}`);
  });
  if (change.summary.length > max)
    lines.push(paint("dim", `  … ${change.summary.length - max} more`));
  for (const finding of change.findings) {
    lines.push(
      `  ${paint("yellow", `! [${finding.severity}] ${finding.ruleId}: ${finding.message}`)}`,
    );
  }
  return lines.join("\n");
}

function header(change: Change, paint: (s: Style, t: string) => string, offline: boolean): string {
  const typeColor: Style =
    change.type === "ADDED"
      ? "green"
      : change.type === "DELETED" || change.type === "ERROR"
        ? "red"
        : "yellow";
  const parts = [paint(typeColor, change.type.padEnd(8)), paint("bold", formatRef(change.ref))];
  // An offline diff has no history: its seq and revisions would be the throwaway store's.
  if (!offline) parts.unshift(paint("dim", `#${change.seq}`));
  if (change.revision !== null && !offline) parts.push(paint("dim", `r${change.revision}`));
  const where = change.location
    ? `${change.location.path}${change.location.line ? `:${change.location.line}` : ""}`
    : "";
  if (where && change.type !== "ERROR") parts.push(paint("dim", where));
  if (change.type === "ERROR" && change.location?.line)
    parts.push(paint("dim", `line ${change.location.line}`));
  if (change.actor) parts.push(paint("cyan", `by ${change.actor.name}`));
  return parts.join(" ");
}

function marker(op: PatchOp | undefined, paint: (s: Style, t: string) => string): string {
  if (!op) return " ";
  if (op.op === "add") return paint("green", "+");
  if (op.op === "remove") return paint("red", "-");
  return paint("yellow", "~");
}
