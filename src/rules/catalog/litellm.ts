import type { JsonObject, JsonValue } from "../../model/json.js";
import { hostHits, limitHits, removedHit } from "../lib/checks.js";
import { get, num, type Path, pointer, show, walk } from "../lib/values.js";
import type { BuiltinRule, Hit } from "../types.js";

export const LITELLM_GROUP = "litellm.ai";
const models = [{ group: LITELLM_GROUP, kinds: ["Model"] }];

const masterKeyRemoved: BuiltinRule = {
  id: "litellm/master-key-removed",
  severity: "critical",
  match: [{ group: LITELLM_GROUP, kinds: ["GeneralSettings"] }],
  rationale:
    "general_settings.master_key is what makes the LiteLLM proxy demand a key; without it anyone who reaches the proxy can spend on every configured provider.",
  check: (ctx) =>
    ctx.after === null
      ? []
      : removedHit(
          ctx,
          ["master_key"],
          get(ctx.before, ["master_key"]),
          get(ctx.after, ["master_key"]),
          "master_key (proxy authentication)",
        ),
};

const modelSwapped: BuiltinRule = {
  id: "litellm/model-swapped",
  severity: "high",
  match: models,
  rationale:
    "Clients ask for model_name; when litellm_params.model behind it changes they silently get another model (other quality, cost, data-processing terms).",
  check: (ctx) => {
    const path: Path = ["litellm_params", "model"];
    const before = get(ctx.before, path);
    const after = get(ctx.after, path);
    if (!ctx.before || !ctx.after || before === after) return [];
    return [
      {
        message: `${ctx.name}: model_name ${show(get(ctx.after, ["model_name"]))} now served by ${show(after)} (was ${show(before)})`,
        path: pointer(path),
      },
    ];
  },
};

const providerHost: BuiltinRule = {
  id: "litellm/provider-host-changed",
  severity: "medium",
  match: models,
  singleState: true,
  rationale:
    "litellm_params.api_base is where prompts and the provider key are sent; a new host, above all one outside the allowed list, may be a diversion.",
  check: (ctx) =>
    hostHits(
      ctx,
      ["litellm_params", "api_base"],
      get(ctx.before, ["litellm_params", "api_base"]),
      get(ctx.after, ["litellm_params", "api_base"]),
      "api_base",
    ),
};

const LIMITS = ["tpm", "rpm", "max_parallel_requests"];

const limitsWeakened: BuiltinRule = {
  id: "litellm/rate-limit-weakened",
  severity: "medium",
  match: models,
  rationale:
    "tpm and rpm cap what one deployment may use (and steer the router); raised many-fold or removed, spend and load are no longer bounded there.",
  check: (ctx) =>
    LIMITS.flatMap((field) =>
      ([[field], ["litellm_params", field]] as Path[]).flatMap((path) =>
        limitHits(ctx, path, num(get(ctx.before, path)), num(get(ctx.after, path)), field),
      ),
    ),
};

const COST = /(^|_)cost(_|$)|_cost_per_/;

const costsChanged: BuiltinRule = {
  id: "litellm/cost-changed",
  severity: "medium",
  match: models,
  rationale:
    "Cost entries (input_cost_per_token…) are what spend tracking and budgets count; changed or removed, budgets are enforced on wrong numbers.",
  check: (ctx) => {
    if (!ctx.before || !ctx.after) return [];
    return costFields(ctx.before).flatMap(([path, value]): Hit[] => {
      const now = get(ctx.after, path);
      if (now === value) return [];
      return [
        {
          message: `${ctx.name}: ${path.join(".")} ${show(value)} → ${show(now)}`,
          path: pointer(path),
          severity: now === undefined ? "high" : "medium",
        },
      ];
    });
  },
};

function costFields(object: JsonObject): [Path, JsonValue][] {
  return [...walk(object)].filter(
    ([path, v]) => typeof v === "number" && COST.test(String(path[path.length - 1] ?? "")),
  );
}

const BUDGET = /budget/i;

const budgetsChanged: BuiltinRule = {
  id: "litellm/budget-changed",
  severity: "medium",
  match: [
    {
      group: LITELLM_GROUP,
      kinds: ["LiteLLMSettings", "GeneralSettings", "RouterSettings", "Model"],
    },
  ],
  rationale:
    "max_budget, budget_duration and the like cap spend; raised, shortened in effect or removed, the cap no longer holds.",
  check: (ctx) => {
    if (!ctx.before || !ctx.after) return [];
    return [...walk(ctx.before)]
      .filter(
        ([path, v]) => typeof v !== "object" && BUDGET.test(String(path[path.length - 1] ?? "")),
      )
      .flatMap(([path, value]): Hit[] => {
        const now = get(ctx.after, path);
        if (now === value) return [];
        return [
          {
            message: `${ctx.name}: ${path.join(".")} ${show(value)} → ${show(now)}`,
            path: pointer(path),
            severity: now === undefined ? "high" : "medium",
          },
        ];
      });
  },
};

const passThroughTarget: BuiltinRule = {
  id: "litellm/pass-through-target-changed",
  severity: "medium",
  match: [{ group: LITELLM_GROUP, kinds: ["GeneralSettings"] }],
  singleState: true,
  rationale:
    "pass_through_endpoints forward requests (with their headers) to a target URL; a new target host, above all one outside the allowed list, may be a diversion.",
  check: (ctx) => {
    const list = get(ctx.after, ["pass_through_endpoints"]);
    if (!Array.isArray(list)) return [];
    return list.flatMap((_, i) => {
      const path: Path = ["pass_through_endpoints", i, "target"];
      return hostHits(
        ctx,
        path,
        get(ctx.before, path),
        get(ctx.after, path),
        "pass-through target",
      );
    });
  },
};

export const litellmRules: BuiltinRule[] = [
  masterKeyRemoved,
  modelSwapped,
  providerHost,
  limitsWeakened,
  costsChanged,
  budgetsChanged,
  passThroughTarget,
];
