import { describeLineDiff, lineDiff } from "../../core/line-diff.js";
import { parsePointer, valueAt } from "../../core/pointer.js";
import type { PatchOp } from "../../model/change.js";
import type { JsonValue } from "../../model/json.js";
import { labelsOf, show } from "../lib/values.js";
import type { BuiltinRule, Hit, RuleContext } from "../types.js";

const protectedDeleted: BuiltinRule = {
  id: "generic/protected-resource-deleted",
  severity: "critical",
  match: [],
  rationale:
    "The policy marks this resource as protected (by label or by name): deleting it is never routine.",
  check: (ctx) =>
    ctx.input.type === "DELETED" && ctx.policy.isProtected(ctx.input.ref, labelsOf(ctx.before))
      ? [{ message: `${ctx.name}: protected resource deleted`, path: "" }]
      : [],
};

const unapprovedActor: BuiltinRule = {
  id: "generic/unapproved-actor",
  severity: "high",
  match: [],
  rationale:
    "policy.approvedActors lists who may change this source (for example only the GitOps controller); a change by anyone else bypassed the review path.",
  check: (ctx) => {
    const actor = ctx.input.actor?.name;
    if (!actor || ctx.policy.actorApproved(ctx.input.ref.source, actor) !== false) return [];
    const via = ctx.input.actor?.via ? ` via ${ctx.input.actor.via}` : "";
    return [
      {
        message: `${ctx.name}: ${ctx.input.type.toLowerCase()} by ${actor}${via}, who is not in policy.approvedActors for source ${ctx.input.ref.source}`,
        path: "",
      },
    ];
  },
};

/** The burst rule keeps its own memory: one instance per engine, times from the changes. */
export function createBurstRule(): BuiltinRule {
  const seen = new Map<string, { times: number[]; alertedAt?: number }>();
  return {
    id: "generic/change-burst",
    severity: "medium",
    match: [],
    stateful: true,
    rationale:
      "Many changes to one kind in a short time is how a runaway script, a bad sync or an attack looks; policy.burst sets how many in what window.",
    check: (ctx) => {
      const burst = ctx.policy.burst;
      const time = ctx.input.observedAt ? Date.parse(ctx.input.observedAt) : Number.NaN;
      if (!burst || Number.isNaN(time)) return [];
      const { ref } = ctx.input;
      const key = JSON.stringify([ref.source, ref.group, ref.kind]);
      const entry = seen.get(key) ?? { times: [] };
      seen.set(key, entry);
      entry.times = entry.times.filter((t) => t > time - burst.windowMs);
      entry.times.push(time);
      keepNewest(entry.times, burst.changes + 1);
      if (entry.times.length <= burst.changes) return [];
      if (entry.alertedAt !== undefined && time - entry.alertedAt < burst.windowMs) return [];
      entry.alertedAt = time;
      return [
        {
          message: `${ctx.name}: more than ${burst.changes} changes to ${ref.kind} in source ${ref.source} within ${burst.windowMs / 1000}s (policy.burst allows ${burst.changes})`,
          path: "",
        },
      ];
    },
  };
}

/**
 * Drops the oldest times until `count` are left. Whether more than N changes fall in the
 * window depends only on the N+1 newest, so the list stays that short: kept whole, a sync of
 * 100,000 objects inside one window made every change filter all the earlier ones
 * (40,000 changes: 14.5 s in this rule alone).
 */
function keepNewest(times: number[], count: number): void {
  while (times.length > count) {
    let oldest = 0;
    for (let i = 1; i < times.length; i++)
      if ((times[i] as number) < (times[oldest] as number)) oldest = i;
    times.splice(oldest, 1);
  }
}

/** Leaf names that hold a secret or point at one. */
const SECRET_LEAF =
  /^(secret|password|passwd|key|token|api_?key|apikey|master_key|private_?key|client_?secret|jwk|credentials?|hmac_?secret)$|_(secret|password|token|api_?key)$/i;
/** Fields that reference a Secret object (then any part of the reference counts). */
const SECRET_REF = /(secret|credential|certificate)s?(Ref|Refs|Name)$|^(credentials|secretRef)$/i;
const MAX_HITS = 10;

/** Cheap test on the raw pointer: most paths of most changes mention nothing secret. */
const MAYBE_SECRET = /secret|passw|key|token|credential|jwk|ref|name/i;

function isSecretPath(ctx: RuleContext, pointer: string): boolean {
  const { ref } = ctx.input;
  if (ref.group === "" && ref.kind === "Secret") return /^\/(data|stringData)\//.test(pointer);
  if (!MAYBE_SECRET.test(pointer)) return false;
  const tokens = parsePointer(pointer);
  const leaf = [...tokens].reverse().find((t) => !/^\d+$/.test(t)) ?? "";
  return SECRET_LEAF.test(leaf) || tokens.some((t) => SECRET_REF.test(t));
}

const secretChanged: BuiltinRule = {
  id: "generic/secret-changed",
  severity: "medium",
  match: [],
  rationale:
    "A credential, key or secret reference changed: a rotation, or someone pointing the gateway at credentials they control. Values are masked; the change itself is the signal.",
  check: (ctx) => {
    if (ctx.input.type !== "MODIFIED") return [];
    const hits: Hit[] = ctx.input.patch
      .filter((op) => isSecretPath(ctx, op.path))
      .map((op) => ({ message: `${ctx.name}: ${describeOp(ctx, op)}`, path: op.path }));
    return hits.length > MAX_HITS
      ? [
          ...hits.slice(0, MAX_HITS),
          {
            message: `${ctx.name}: and ${hits.length - MAX_HITS} more secret fields changed`,
            path: "",
          },
        ]
      : hits;
  },
};

function describeOp(ctx: RuleContext, op: PatchOp): string {
  const where = op.path.slice(1).replace(/\//g, ".");
  const before = ctx.before ? valueAt(ctx.before, op.path) : undefined;
  if (op.op === "remove") return `secret ${where} removed (was ${show(before)})`;
  if (op.op === "add") return `secret ${where} added (${show(op.value as JsonValue)})`;
  return `secret ${where} changed (${show(before)} → ${show(op.value as JsonValue)})`;
}

const PROMPT_FIELD = /prompt|system_?(message|msg)|instructions$/i;

const promptChanged: BuiltinRule = {
  id: "generic/prompt-changed",
  severity: "medium",
  match: [],
  rationale:
    "Prompt templates and system prompts steer every answer of an AI route; a change can remove guardrails or leak data, so it is shown line by line.",
  check: (ctx) => {
    if (ctx.input.type !== "MODIFIED") return [];
    // A kind (PromptTemplate) or a plugin (ai-prompt-decorator) about prompts: all of it is prompt.
    const subject = `${ctx.input.ref.kind} ${String(ctx.after?.name ?? ctx.after?.plugin ?? "")}`;
    const promptKind = /prompt/i.test(subject);
    return ctx.input.patch
      .filter((op) => promptKind || parsePointer(op.path).some((t) => PROMPT_FIELD.test(t)))
      .map((op) => {
        const before = ctx.before ? valueAt(ctx.before, op.path) : undefined;
        const after = ctx.after ? valueAt(ctx.after, op.path) : undefined;
        const where = op.path.slice(1).replace(/\//g, ".");
        if (typeof before === "string" && typeof after === "string") {
          const [counts, ...lines] = describeLineDiff(lineDiff(before, after), "  ");
          return {
            message: `${ctx.name}: prompt ${where} changed, ${counts}\n${lines.join("\n")}`,
            path: op.path,
          };
        }
        return {
          message: `${ctx.name}: prompt ${where} ${show(before)} → ${show(after)}`,
          path: op.path,
        };
      });
  },
};

const TLS_MIN =
  /^(minVersion|min_version|minProtocolVersion|tls_min_version|ssl_protocols|minTLSVersion)$/;

/** `1.2`, `TLSv1_2`, `TLSv1.3` → 12, 13; undefined when no version can be read. */
function tlsRank(value: JsonValue | undefined): number | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const m = /1[._]?([0-3])/.exec(String(value));
  return m ? 10 + Number(m[1]) : undefined;
}

const tlsLowered: BuiltinRule = {
  id: "generic/tls-min-version-lowered",
  severity: "high",
  match: [],
  rationale:
    "A lower minimum TLS version re-admits protocol versions with known attacks (TLS 1.0/1.1) for every client of that listener or backend.",
  check: (ctx) =>
    ctx.input.patch
      .filter((op) => op.op !== "add" && TLS_MIN.test(parsePointer(op.path).at(-1) ?? ""))
      .flatMap((op) => {
        const before = ctx.before ? valueAt(ctx.before, op.path) : undefined;
        const after = ctx.after ? valueAt(ctx.after, op.path) : undefined;
        const b = tlsRank(before);
        const a = tlsRank(after);
        if (b === undefined || (a !== undefined && a >= b) || ctx.after === null) return [];
        return [
          {
            message: `${ctx.name}: minimum TLS version lowered (${show(before)} → ${show(after)})`,
            path: op.path,
          },
        ];
      }),
};

export const genericRules: BuiltinRule[] = [
  protectedDeleted,
  unapprovedActor,
  secretChanged,
  promptChanged,
  tlsLowered,
];
