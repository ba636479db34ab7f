import type { JsonValue } from "../../model/json.js";
import type { Hit, RuleContext } from "../types.js";
import { hostOf } from "./hosts.js";
import { dotted, type Path, pointer, show } from "./values.js";

/** A limit raised ten-fold is high whatever the configured factor. */
const HIGH_FACTOR = 10;

/**
 * A rate limit, quota or budget between two states: removed (high), or raised by at least
 * the policy's factor (medium; high from ten-fold). Lowering a limit is never a finding.
 */
export function limitHits(
  ctx: RuleContext,
  path: Path,
  before: number | undefined,
  after: number | undefined,
  what: string,
): Hit[] {
  if (before === undefined || ctx.before === null) return [];
  const at = dotted(path);
  if (after === undefined) {
    return [
      {
        message: `${ctx.name}: ${what} removed (${at}: ${before} → absent)`,
        path: pointer(path),
        severity: "high",
      },
    ];
  }
  if (before <= 0 || after <= before) return [];
  const factor = after / before;
  if (factor < ctx.policy.limitFactor) return [];
  return [
    {
      message: `${ctx.name}: ${what} raised ${round(factor)}× (${at}: ${before} → ${after})`,
      path: pointer(path),
      severity: factor >= HIGH_FACTOR ? "high" : "medium",
    },
  ];
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/**
 * An upstream or provider address between two states: a new host outside
 * `policy.allowedHosts` is high (also on a new resource), any other host change medium.
 */
export function hostHits(
  ctx: RuleContext,
  path: Path,
  before: JsonValue | undefined,
  after: JsonValue | undefined,
  what: string,
): Hit[] {
  const oldHost = typeof before === "string" ? hostOf(before) : undefined;
  const newHost = typeof after === "string" ? hostOf(after) : undefined;
  if (newHost === undefined || oldHost === newHost) return [];
  const was = oldHost === undefined ? "" : ` (was ${oldHost})`;
  if (ctx.policy.hostAllowed && !ctx.policy.hostAllowed(newHost)) {
    return [
      {
        message: `${ctx.name}: ${what} now points at ${newHost}, outside policy.allowedHosts${was}`,
        path: pointer(path),
        severity: "high",
      },
    ];
  }
  if (oldHost === undefined) return [];
  return [
    { message: `${ctx.name}: ${what} moved from ${oldHost} to ${newHost}`, path: pointer(path) },
  ];
}

/** A field whose presence means protection (an auth block, a plugin), gone in the new state. */
export function removedHit(
  ctx: RuleContext,
  path: Path,
  before: JsonValue | undefined,
  after: JsonValue | undefined,
  what: string,
): Hit[] {
  if (before === undefined || before === null || (after !== undefined && after !== null)) return [];
  const how = ctx.after === null ? "resource deleted" : `${dotted(path)} removed`;
  return [{ message: `${ctx.name}: ${what} removed (${how})`, path: pointer(path) }];
}

/** A value that went from `from` (or anything but `to`) to `to`. */
export function becameHit(
  ctx: RuleContext,
  path: Path,
  before: JsonValue | undefined,
  after: JsonValue | undefined,
  to: JsonValue,
  what: string,
): Hit[] {
  if (after !== to || before === to) return [];
  if (ctx.before === null && ctx.input.type !== "ADDED") return [];
  return [
    {
      message: `${ctx.name}: ${what} (${dotted(path)}: ${show(before)} → ${show(after)})`,
      path: pointer(path),
    },
  ];
}

/** CORS that lets any origin in: high; with credentials, critical (any site can act as the user). */
export function corsHits(
  ctx: RuleContext,
  path: Path,
  beforeOrigins: JsonValue[],
  afterOrigins: JsonValue[],
  credentials: boolean,
): Hit[] {
  const open = (origins: JsonValue[]) => origins.some((o) => o === "*" || o === "null");
  if (!open(afterOrigins) || open(beforeOrigins)) return [];
  const withCreds = credentials ? " with credentials allowed" : "";
  return [
    {
      message: `${ctx.name}: CORS now allows any origin${withCreds} (${dotted(path)}: ${show(beforeOrigins)} → ${show(afterOrigins)})`,
      path: pointer(path),
      severity: credentials ? "critical" : "high",
    },
  ];
}
