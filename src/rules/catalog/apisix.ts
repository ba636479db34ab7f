import { isJsonObject, type JsonObject } from "../../model/json.js";
import { corsHits, hostHits, limitHits } from "../lib/checks.js";
import { isEverything, widenedCidrs } from "../lib/cidr.js";
import { get, list, num, objects, type Path, pointer, str } from "../lib/values.js";
import type { BuiltinRule, Hit, RuleContext } from "../types.js";

export const APISIX_GROUP = "apisix.apache.org";
const withPlugins = [{ group: APISIX_GROUP, kinds: ["ApisixRoute", "ApisixPluginConfig"] }];

const AUTH_PLUGINS = new Set([
  "key-auth",
  "jwt-auth",
  "basic-auth",
  "hmac-auth",
  "openid-connect",
  "authz-keycloak",
  "authz-casdoor",
  "wolf-rbac",
  "ldap-auth",
  "forward-auth",
  "opa",
  "multi-auth",
  "consumer-restriction",
]);

interface PluginAt {
  name: string;
  enabled: boolean;
  config: JsonObject;
  path: Path;
}

/** Plugins by `<http rule name>/<plugin name>` (ApisixRoute) or plugin name (ApisixPluginConfig). */
function pluginsOf(object: JsonObject | null): Map<string, PluginAt> {
  const out = new Map<string, PluginAt>();
  const add = (prefix: string, items: JsonObject[], path: Path) =>
    items.forEach((p, i) => {
      const name = str(p.name);
      if (!name) return;
      out.set(`${prefix}${name}`, {
        name,
        enabled: p.enable !== false,
        config: isJsonObject(p.config) ? p.config : {},
        path: [...path, i],
      });
    });
  add("", objects(get(object, ["spec", "plugins"])), ["spec", "plugins"]);
  objects(get(object, ["spec", "http"])).forEach((rule, i) => {
    add(`${str(rule.name) ?? `#${i}`}/`, objects(rule.plugins), ["spec", "http", i, "plugins"]);
  });
  return out;
}

/** Plugin pairs present before (enabled), with their state after (undefined when gone). */
function pluginPairs(ctx: RuleContext, names: (n: string) => boolean) {
  const after = pluginsOf(ctx.after);
  return [...pluginsOf(ctx.before)]
    .filter(([, p]) => names(p.name) && p.enabled)
    .map(([key, before]) => ({ key, before, after: after.get(key) }));
}

const authDisabled: BuiltinRule = {
  id: "apisix/auth-disabled",
  severity: "critical",
  match: withPlugins,
  rationale:
    "An ApisixRoute's `authentication` block and auth plugins (key-auth, jwt-auth, basic-auth, openid-connect…) keep anonymous callers out; disabled or removed, the route is open.",
  check: (ctx) => {
    const hits: Hit[] = [];
    const rules = new Map(
      objects(get(ctx.after, ["spec", "http"])).map(
        (r, i) => [str(r.name) ?? `#${i}`, { r, i }] as const,
      ),
    );
    objects(get(ctx.before, ["spec", "http"])).forEach((rule, i) => {
      const name = str(rule.name) ?? `#${i}`;
      if (get(rule, ["authentication", "enable"]) !== true) return;
      const now = rules.get(name);
      if (!now) return;
      if (get(now.r, ["authentication", "enable"]) !== true) {
        hits.push({
          message: `${ctx.name}: authentication of rule ${name} disabled (${String(get(rule, ["authentication", "type"]) ?? "")})`,
          path: pointer(["spec", "http", now.i, "authentication"]),
        });
      }
    });
    for (const { key, before, after } of pluginPairs(ctx, (n) => AUTH_PLUGINS.has(n))) {
      if (!ctx.after)
        hits.push({ message: `${ctx.name}: ${key} plugin deleted with the resource`, path: "" });
      else if (!after)
        hits.push({ message: `${ctx.name}: ${key} plugin removed`, path: pointer(before.path) });
      else if (!after.enabled)
        hits.push({
          message: `${ctx.name}: ${key} plugin disabled`,
          path: pointer([...after.path, "enable"]),
        });
    }
    return hits;
  },
};

const LIMIT_FIELDS: Record<string, string[]> = {
  "limit-count": ["count"],
  "limit-req": ["rate", "burst"],
  "limit-conn": ["conn", "burst"],
};

const rateLimitWeakened: BuiltinRule = {
  id: "apisix/rate-limit-weakened",
  severity: "medium",
  match: withPlugins,
  rationale:
    "limit-count, limit-req and limit-conn protect upstreams and budgets; raised many-fold, disabled, removed or moved to a per-node policy they no longer hold.",
  check: (ctx) =>
    pluginPairs(ctx, (n) => n in LIMIT_FIELDS).flatMap(({ key, before, after }): Hit[] => {
      if (!after)
        return ctx.after
          ? [
              {
                message: `${ctx.name}: ${key} plugin removed`,
                path: pointer(before.path),
                severity: "high",
              },
            ]
          : [];
      if (!after.enabled)
        return [
          {
            message: `${ctx.name}: ${key} plugin disabled`,
            path: pointer([...after.path, "enable"]),
            severity: "high",
          },
        ];
      const hits = (LIMIT_FIELDS[before.name] ?? []).flatMap((f) =>
        limitHits(
          ctx,
          [...after.path, "config", f],
          num(before.config[f]),
          num(after.config[f]),
          `${key} ${f}`,
        ),
      );
      const oldWindow = num(before.config.time_window);
      const newWindow = num(after.config.time_window);
      if (oldWindow && newWindow && newWindow < oldWindow) {
        hits.push(
          ...limitHits(
            ctx,
            [...after.path, "config", "time_window"],
            1 / oldWindow,
            1 / newWindow,
            `${key} rate (shorter time_window)`,
          ),
        );
      }
      if (
        before.config.policy &&
        before.config.policy !== "local" &&
        after.config.policy === "local"
      ) {
        hits.push({
          message: `${ctx.name}: ${key} policy "${String(before.config.policy)}" → "local" (counted per node)`,
          path: pointer([...after.path, "config", "policy"]),
        });
      }
      return hits;
    }),
};

const corsOpened: BuiltinRule = {
  id: "apisix/cors-any-origin",
  severity: "high",
  match: withPlugins,
  singleState: true,
  rationale:
    "A cors plugin allowing any origin lets every website read responses in a visitor's browser; with credentials it can act as the logged-in user.",
  check: (ctx) => {
    const old = pluginsOf(ctx.before);
    return [...pluginsOf(ctx.after)].flatMap(([key, p]) => {
      if (p.name !== "cors" || !p.enabled) return [];
      const origins = (c: JsonObject | undefined) =>
        typeof c?.allow_origins === "string" ? c.allow_origins.split(",") : [];
      return corsHits(
        ctx,
        [...p.path, "config", "allow_origins"],
        origins(old.get(key)?.config),
        origins(p.config),
        p.config.allow_credential === true,
      );
    });
  },
};

const ipRestrictionWidened: BuiltinRule = {
  id: "apisix/ip-restriction-widened",
  severity: "high",
  match: withPlugins,
  rationale:
    "ip-restriction's whitelist names the networks that may call; a wider CIDR (0.0.0.0/0 is the whole Internet) admits more callers.",
  check: (ctx) =>
    pluginPairs(ctx, (n) => n === "ip-restriction").flatMap(({ key, before, after }): Hit[] => {
      if (!after) return [];
      const cidrs = (c: JsonObject) =>
        list(c.whitelist).filter((x): x is string => typeof x === "string");
      const wider = widenedCidrs(cidrs(before.config), cidrs(after.config));
      if (wider.length === 0 || cidrs(before.config).length === 0) return [];
      return [
        {
          message: `${ctx.name}: ${key} now allows ${wider.join(", ")}`,
          path: pointer([...after.path, "config", "whitelist"]),
          severity: wider.some(isEverything) ? "critical" : "high",
        },
      ];
    }),
};

const trafficShifted: BuiltinRule = {
  id: "apisix/traffic-shifted",
  severity: "medium",
  match: [{ group: APISIX_GROUP, kinds: ["ApisixRoute"] }],
  rationale: "Backend weights changed: a share of live traffic now goes to a different service.",
  check: (ctx) => {
    if (!ctx.before || !ctx.after) return [];
    const oldRules = objects(get(ctx.before, ["spec", "http"]));
    return objects(get(ctx.after, ["spec", "http"])).flatMap((rule, i) => {
      const w = (r: JsonObject | undefined) =>
        JSON.stringify(objects(r?.backends).map((b) => [b.serviceName, b.weight ?? 100]));
      const old = oldRules[i];
      if (!old || w(old) === w(rule)) return [];
      return [
        {
          message: `${ctx.name}: rule ${str(rule.name) ?? i} backends ${w(old)} → ${w(rule)}`,
          path: pointer(["spec", "http", i, "backends"]),
        },
      ];
    });
  },
};

const upstreamHost: BuiltinRule = {
  id: "apisix/upstream-host-changed",
  severity: "medium",
  match: [{ group: APISIX_GROUP, kinds: ["ApisixUpstream"] }],
  singleState: true,
  rationale:
    "External nodes of an ApisixUpstream are where requests go; a new host, above all one outside the allowed list, may be a diversion.",
  check: (ctx) =>
    objects(get(ctx.after, ["spec", "externalNodes"])).flatMap((node, i) =>
      hostHits(
        ctx,
        ["spec", "externalNodes", i, "name"],
        get(ctx.before, ["spec", "externalNodes", i, "name"]),
        node.name,
        "upstream node",
      ),
    ),
};

export const apisixRules: BuiltinRule[] = [
  authDisabled,
  rateLimitWeakened,
  corsOpened,
  ipRestrictionWidened,
  trafficShifted,
  upstreamHost,
];
