import { isJsonObject, type JsonObject, type JsonValue } from "../../model/json.js";
import { becameHit, corsHits, hostHits, limitHits, removedHit } from "../lib/checks.js";
import { isEverything, widenedCidrs } from "../lib/cidr.js";
import { get, list, objects, type Path, pointer, show, str } from "../lib/values.js";
import type { BuiltinRule, Hit, RuleContext } from "../types.js";

export const ENVOY_GATEWAY_GROUP = "gateway.envoyproxy.io";
const securityPolicy = [{ group: ENVOY_GATEWAY_GROUP, kinds: ["SecurityPolicy"] }];
const trafficPolicy = [{ group: ENVOY_GATEWAY_GROUP, kinds: ["BackendTrafficPolicy"] }];
const AUTH_FIELDS = ["jwt", "oidc", "basicAuth", "apiKeyAuth", "extAuth", "authorization"];

const authRemoved: BuiltinRule = {
  id: "envoy-gateway/auth-removed",
  severity: "critical",
  match: securityPolicy,
  rationale:
    "A SecurityPolicy's jwt, oidc, basicAuth, apiKeyAuth, extAuth or authorization block is what keeps anonymous callers out of the routes it targets; without it they are open.",
  check: (ctx) =>
    AUTH_FIELDS.flatMap((field) =>
      removedHit(
        ctx,
        ["spec", field],
        get(ctx.before, ["spec", field]),
        get(ctx.after, ["spec", field]),
        `${field} authentication`,
      ),
    ),
};

const authOptional: BuiltinRule = {
  id: "envoy-gateway/auth-optional",
  severity: "high",
  match: securityPolicy,
  rationale:
    "jwt.optional lets requests without a token through; extAuth.failOpen lets every request through whenever the auth service is down or slow.",
  check: (ctx) => [
    ...becameHit(
      ctx,
      ["spec", "jwt", "optional"],
      get(ctx.before, ["spec", "jwt", "optional"]),
      get(ctx.after, ["spec", "jwt", "optional"]),
      true,
      "JWT made optional",
    ),
    ...becameHit(
      ctx,
      ["spec", "extAuth", "failOpen"],
      get(ctx.before, ["spec", "extAuth", "failOpen"]),
      get(ctx.after, ["spec", "extAuth", "failOpen"]),
      true,
      "external auth now fails open",
    ),
    ...becameHit(
      ctx,
      ["spec", "apiKeyAuth", "optional"],
      get(ctx.before, ["spec", "apiKeyAuth", "optional"]),
      get(ctx.after, ["spec", "apiKeyAuth", "optional"]),
      true,
      "API key made optional",
    ),
  ],
};

const authorizationWidened: BuiltinRule = {
  id: "envoy-gateway/authorization-widened",
  severity: "high",
  match: securityPolicy,
  rationale:
    "The authorization default action applies to every request no rule matches; Allow there, or an Allow rule for a wider CIDR (0.0.0.0/0 is the whole Internet), admits callers that were refused.",
  check: (ctx) => {
    if (!ctx.before || !ctx.after) return [];
    const path: Path = ["spec", "authorization", "defaultAction"];
    const before = get(ctx.before, path) ?? "Deny";
    const after = get(ctx.after, path) ?? "Deny";
    const hits: Hit[] = [];
    if (get(ctx.before, ["spec", "authorization"]) && before === "Deny" && after === "Allow") {
      hits.push({
        message: `${ctx.name}: authorization default action "Deny" → "Allow"`,
        path: pointer(path),
      });
    }
    const allowCidrs = (o: JsonObject | null) =>
      objects(get(o, ["spec", "authorization", "rules"]))
        .filter((r) => r.action === "Allow")
        .flatMap((r) =>
          list(get(r, ["principal", "clientCIDRs"])).filter(
            (c): c is string => typeof c === "string",
          ),
        );
    const wider = widenedCidrs(allowCidrs(ctx.before), allowCidrs(ctx.after));
    if (wider.length > 0) {
      hits.push({
        message: `${ctx.name}: authorization now allows ${wider.join(", ")}`,
        path: "/spec/authorization/rules",
        severity: wider.some(isEverything) ? "critical" : "high",
      });
    }
    return hits;
  },
};

const corsOpened: BuiltinRule = {
  id: "envoy-gateway/cors-any-origin",
  severity: "high",
  match: securityPolicy,
  singleState: true,
  rationale:
    "A CORS policy allowing any origin lets every website read responses in a visitor's browser; with credentials it can act as the logged-in user.",
  check: (ctx) => {
    const after = get(ctx.after, ["spec", "cors"]);
    if (!isJsonObject(after)) return [];
    const before = get(ctx.before, ["spec", "cors", "allowOrigins"]);
    return corsHits(
      ctx,
      ["spec", "cors", "allowOrigins"],
      list(before),
      list(after.allowOrigins),
      after.allowCredentials === true,
    );
  },
};

const UNIT_SECONDS: Record<string, number> = {
  Second: 1,
  Minute: 60,
  Hour: 3600,
  Day: 86400,
  Month: 2592000,
  Year: 31536000,
};

/** Requests per second of a `limit: {requests, unit}`, so 10/Hour → 10/Minute reads as 60×. */
function perSecond(limit: unknown): number | undefined {
  if (!isJsonObject(limit) || typeof limit.requests !== "number") return undefined;
  const unit = UNIT_SECONDS[str(limit.unit) ?? "Second"];
  return unit ? limit.requests / unit : undefined;
}

const rateLimitWeakened: BuiltinRule = {
  id: "envoy-gateway/rate-limit-weakened",
  severity: "medium",
  match: trafficPolicy,
  rationale:
    "Rate limits protect backends and budgets; a limit raised many-fold, removed, put in shadow mode (counted, never enforced) or moved from Global to Local (each Envoy counts alone, so the real limit grows with the replicas) no longer holds.",
  check: (ctx) => {
    if (!ctx.before || !ctx.after) return [];
    const hits: Hit[] = [];
    const typePath: Path = ["spec", "rateLimit", "type"];
    if (get(ctx.before, typePath) === "Global" && get(ctx.after, typePath) === "Local") {
      hits.push({
        message: `${ctx.name}: rate limit type "Global" → "Local" (counted per Envoy instance)`,
        path: pointer(typePath),
      });
    }
    hits.push(
      ...removedHit(
        ctx,
        ["spec", "rateLimit"],
        get(ctx.before, ["spec", "rateLimit"]),
        get(ctx.after, ["spec", "rateLimit"]),
        "rate limit",
      ).map((h) => ({ ...h, severity: "high" as const })),
    );
    for (const scope of ["local", "global"]) {
      const rulesPath: Path = ["spec", "rateLimit", scope, "rules"];
      const oldRules = objects(get(ctx.before, rulesPath));
      const newRules = objects(get(ctx.after, rulesPath));
      oldRules.forEach((old, i) => {
        const now = newRules[i];
        if (!now) return;
        const shadow: Path = [...rulesPath, i, "shadowMode"];
        hits.push(
          ...becameHit(
            ctx,
            shadow,
            old.shadowMode,
            now.shadowMode,
            true,
            "rate limit rule put in shadow mode (not enforced)",
          ).map((h) => ({ ...h, severity: "high" as const })),
        );
        const b = perSecond(old.limit);
        const a = perSecond(now.limit);
        if (b !== undefined && a !== undefined && a > b) {
          const [hit] = limitHits(ctx, [...rulesPath, i, "limit"], b, a, "rate limit");
          if (hit)
            hits.push({
              ...hit,
              message: `${ctx.name}: rate limit rule ${i} raised ${Math.round((a / b) * 10) / 10}× (${show(old.limit)} → ${show(now.limit)})`,
            });
        }
      });
      hits.push(...perClientBuckets(ctx, rulesPath));
      if (
        newRules.length < oldRules.length &&
        ctx.after &&
        get(ctx.after, ["spec", "rateLimit", scope])
      ) {
        hits.push({
          message: `${ctx.name}: ${oldRules.length - newRules.length} ${scope} rate limit rule(s) removed`,
          path: pointer(rulesPath),
          severity: "high",
        });
      }
    }
    return hits;
  },
};

/**
 * A client selector moved from `Exact` (one shared bucket) to `Distinct` (one bucket per
 * header value or IP): the same number now applies to each client, so the total grows
 * with the clients (the limit's scope widened).
 */
function perClientBuckets(ctx: RuleContext, rulesPath: Path): Hit[] {
  const hits: Hit[] = [];
  objects(get(ctx.after, rulesPath)).forEach((rule, i) => {
    objects(rule.clientSelectors).forEach((selector, j) => {
      const fields: [Path, JsonValue | undefined][] = [
        [["sourceCIDR", "type"], get(selector, ["sourceCIDR", "type"])],
        ...objects(selector.headers).map((h, k): [Path, JsonValue | undefined] => [
          ["headers", k, "type"],
          h.type,
        ]),
      ];
      for (const [field, type] of fields) {
        const path: Path = [...rulesPath, i, "clientSelectors", j, ...field];
        const before = get(ctx.before, path);
        if (type === "Distinct" && before !== undefined && before !== "Distinct") {
          hits.push({
            message: `${ctx.name}: rate limit rule ${i} now counts each client separately (${show(before)} → "Distinct")`,
            path: pointer(path),
          });
        }
      }
    });
  });
  return hits;
}

const clientValidationRelaxed: BuiltinRule = {
  id: "envoy-gateway/client-validation-relaxed",
  severity: "high",
  match: [{ group: ENVOY_GATEWAY_GROUP, kinds: ["ClientTrafficPolicy"] }],
  rationale:
    "ClientTrafficPolicy tls.clientValidation is what demands client certificates (mTLS); removing it or making it optional admits clients without one.",
  check: (ctx) => [
    ...removedHit(
      ctx,
      ["spec", "tls", "clientValidation"],
      get(ctx.before, ["spec", "tls", "clientValidation"]),
      get(ctx.after, ["spec", "tls", "clientValidation"]),
      "client certificate validation",
    ),
    ...becameHit(
      ctx,
      ["spec", "tls", "clientValidation", "optional"],
      get(ctx.before, ["spec", "tls", "clientValidation", "optional"]),
      get(ctx.after, ["spec", "tls", "clientValidation", "optional"]),
      true,
      "client certificate made optional",
    ),
  ],
};

const backendHostChanged: BuiltinRule = {
  id: "envoy-gateway/backend-host-changed",
  severity: "medium",
  match: [{ group: ENVOY_GATEWAY_GROUP, kinds: ["Backend"] }],
  singleState: true,
  rationale:
    "A Backend's endpoints are where requests (and for AI gateways, prompts and provider keys) are sent; a new host, above all one outside the allowed list, may be a diversion.",
  check: (ctx) =>
    objects(get(ctx.after, ["spec", "endpoints"])).flatMap((ep, i) => {
      const path: Path = ["spec", "endpoints", i, "fqdn", "hostname"];
      return hostHits(
        ctx,
        path,
        get(ctx.before, path),
        get(ep, ["fqdn", "hostname"]),
        "backend endpoint",
      );
    }),
};

export const envoyGatewayRules: BuiltinRule[] = [
  authRemoved,
  authOptional,
  authorizationWidened,
  corsOpened,
  rateLimitWeakened,
  clientValidationRelaxed,
  backendHostChanged,
];
