import { isJsonObject, type JsonObject } from "../../model/json.js";
import { becameHit, limitHits, removedHit } from "../lib/checks.js";
import { get, objects, type Path, pointer, show, str } from "../lib/values.js";
import type { BuiltinRule, Hit } from "../types.js";
import { trafficShiftHits } from "./gateway-api.js";

export const AI_GATEWAY_GROUP = "aigateway.envoyproxy.io";
const aiRoutes = [{ group: AI_GATEWAY_GROUP, kinds: ["AIGatewayRoute"] }];
const MODEL_HEADER = "x-ai-eg-model";

/** The model name a rule matches on (the `x-ai-eg-model` header), when it matches on one. */
function modelOf(rule: JsonObject): string | undefined {
  for (const match of objects(rule.matches)) {
    for (const header of objects(match.headers)) {
      if (str(header.name)?.toLowerCase() === MODEL_HEADER) return str(header.value);
    }
  }
  return undefined;
}

/** What serves a rule: its backends and model overrides, ignoring weights (the traffic rule's job). */
function servedBy(rule: JsonObject): string {
  return objects(rule.backendRefs)
    .map(
      (b) =>
        `${str(b.name) ?? "?"}${b.modelNameOverride ? ` as ${String(b.modelNameOverride)}` : ""}`,
    )
    .sort()
    .join(", ");
}

const modelSwapped: BuiltinRule = {
  id: "envoy-ai-gateway/model-swapped",
  severity: "high",
  match: aiRoutes,
  rationale:
    "Clients ask for a model by name; when the backend or model override behind that name changes, they silently get another model (other quality, cost, data-processing terms).",
  check: (ctx) => {
    if (!ctx.before || !ctx.after) return [];
    const old = new Map<string, string>();
    for (const rule of objects(get(ctx.before, ["spec", "rules"]))) {
      const model = modelOf(rule);
      if (model !== undefined) old.set(model, servedBy(rule));
    }
    return objects(get(ctx.after, ["spec", "rules"])).flatMap((rule, i) => {
      const model = modelOf(rule);
      const before = model === undefined ? undefined : old.get(model);
      const after = servedBy(rule);
      if (before === undefined || before === after) return [];
      return [
        {
          message: `${ctx.name}: model "${model}" now served by ${after} (was ${before})`,
          path: pointer(["spec", "rules", i, "backendRefs"]),
        },
      ];
    });
  },
};

const trafficShifted: BuiltinRule = {
  id: "envoy-ai-gateway/traffic-shifted",
  severity: "medium",
  match: aiRoutes,
  rationale:
    "Weights between AI backends changed: a share of prompts now goes to another provider or model.",
  check: (ctx) => trafficShiftHits(ctx, ["spec", "rules"]),
};

const costsChanged: BuiltinRule = {
  id: "envoy-ai-gateway/token-costs-changed",
  severity: "medium",
  match: aiRoutes,
  rationale:
    "llmRequestCosts feed token rate limits and budgets; a removed or changed entry means usage is no longer counted, or counted differently.",
  check: (ctx) => {
    if (!ctx.before || !ctx.after) return [];
    const byKey = (o: JsonObject | null) =>
      new Map(
        objects(get(o, ["spec", "llmRequestCosts"])).map(
          (c) => [str(c.metadataKey) ?? "", c] as const,
        ),
      );
    const old = byKey(ctx.before);
    const now = byKey(ctx.after);
    const hits: Hit[] = [];
    for (const [key, cost] of old) {
      const after = now.get(key);
      if (!after)
        hits.push({
          message: `${ctx.name}: token cost "${key}" removed (${show(cost)})`,
          path: "/spec/llmRequestCosts",
          severity: "high",
        });
      else if (JSON.stringify(after) !== JSON.stringify(cost))
        hits.push({
          message: `${ctx.name}: token cost "${key}" ${show(cost)} → ${show(after)}`,
          path: "/spec/llmRequestCosts",
        });
    }
    return hits;
  },
};

const providerChanged: BuiltinRule = {
  id: "envoy-ai-gateway/provider-changed",
  severity: "medium",
  match: [{ group: AI_GATEWAY_GROUP, kinds: ["AIServiceBackend"] }],
  rationale:
    "An AIServiceBackend's schema and backendRef say which provider receives prompts; a change sends them elsewhere.",
  check: (ctx) => {
    if (!ctx.before || !ctx.after) return [];
    return (["schema", "backendRef"] as const).flatMap((field) => {
      const b = get(ctx.before, ["spec", field]);
      const a = get(ctx.after, ["spec", field]);
      return JSON.stringify(b) === JSON.stringify(a)
        ? []
        : [
            {
              message: `${ctx.name}: ${field} ${show(b)} → ${show(a)}`,
              path: pointer(["spec", field]),
            },
          ];
    });
  },
};

/** Tokens per second of `{limit, duration}`, so 1000/1m → 1000/1s reads as 60×. */
function perSecond(quota: unknown): number | undefined {
  if (!isJsonObject(quota) || typeof quota.limit !== "number") return undefined;
  const seconds = { "1s": 1, "1m": 60, "1h": 3600, "1d": 86400 }[str(quota.duration) ?? "1s"];
  return seconds ? quota.limit / seconds : undefined;
}

const quotaWeakened: BuiltinRule = {
  id: "envoy-ai-gateway/quota-weakened",
  severity: "medium",
  match: [{ group: AI_GATEWAY_GROUP, kinds: ["QuotaPolicy"] }],
  rationale:
    "Quotas cap token spend per model and client; raised many-fold, removed or put in shadow mode, they no longer hold.",
  check: (ctx) => {
    const hits: Hit[] = [];
    const service: Path = ["spec", "serviceQuota", "quota"];
    hits.push(...quotaHits(ctx, service, "service quota"));
    const models = (o: JsonObject | null) =>
      new Map(
        objects(get(o, ["spec", "perModelQuotas"])).map(
          (m, i) => [str(m.modelName) ?? `#${i}`, i] as const,
        ),
      );
    const old = models(ctx.before);
    for (const [model, i] of models(ctx.after)) {
      const j = old.get(model);
      if (j === undefined) continue;
      const base: Path = ["spec", "perModelQuotas", i, "quota"];
      const oldBase: Path = ["spec", "perModelQuotas", j, "quota"];
      hits.push(
        ...quotaHits(ctx, [...base, "defaultBucket"], `quota of model ${model}`, [
          ...oldBase,
          "defaultBucket",
        ]),
      );
      objects(get(ctx.after, [...base, "bucketRules"])).forEach((rule, k) => {
        const oldRule = get(ctx.before, [...oldBase, "bucketRules", k]);
        hits.push(
          ...quotaHits(
            ctx,
            [...base, "bucketRules", k, "quota"],
            `quota rule ${k} of model ${model}`,
            [...oldBase, "bucketRules", k, "quota"],
          ),
        );
        if (isJsonObject(oldRule))
          hits.push(
            ...becameHit(
              ctx,
              [...base, "bucketRules", k, "shadowMode"],
              oldRule.shadowMode,
              rule.shadowMode,
              true,
              `quota rule ${k} of model ${model} put in shadow mode`,
            ).map((h) => ({ ...h, severity: "high" as const })),
          );
      });
    }
    for (const [model, j] of old) {
      if (ctx.after && !models(ctx.after).has(model))
        hits.push({
          message: `${ctx.name}: quota of model ${model} removed`,
          path: pointer(["spec", "perModelQuotas", j]),
          severity: "high",
        });
    }
    return hits;
  },
};

function quotaHits(
  ctx: Parameters<BuiltinRule["check"]>[0],
  path: Path,
  what: string,
  oldPath: Path = path,
) {
  const b = perSecond(get(ctx.before, oldPath));
  const a = perSecond(get(ctx.after, path));
  if (b === undefined) return [];
  if (a === undefined)
    return removedHit(ctx, path, get(ctx.before, oldPath), get(ctx.after, path), what).map((h) => ({
      ...h,
      severity: "high" as const,
    }));
  return limitHits(ctx, path, b, a, what).map((h) => ({
    ...h,
    message: `${ctx.name}: ${what} raised ${Math.round((a / b) * 10) / 10}× (${show(get(ctx.before, oldPath))} → ${show(get(ctx.after, path))})`,
  }));
}

export const envoyAiGatewayRules: BuiltinRule[] = [
  modelSwapped,
  trafficShifted,
  costsChanged,
  providerChanged,
  quotaWeakened,
];
