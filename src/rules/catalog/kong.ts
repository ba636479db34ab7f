import { describeLineDiff, lineDiff } from "../../core/line-diff.js";
import { isJsonObject, type JsonObject, type JsonValue } from "../../model/json.js";
import { corsHits, hostHits, limitHits } from "../lib/checks.js";
import { isEverything, widenedCidrs } from "../lib/cidr.js";
import { get, list, num, objects, type Path, pointer, show, str } from "../lib/values.js";
import type { BuiltinRule, Hit, Match, RuleContext } from "../types.js";

export const KONG_CRD_GROUP = "configuration.konghq.com";
export const DECK_GROUP = "deck.konghq.com";
const plugins: Match[] = [
  { group: KONG_CRD_GROUP, kinds: ["KongPlugin", "KongClusterPlugin"] },
  { group: DECK_GROUP, kinds: ["Plugin"] },
];

const AUTH_PLUGINS = new Set([
  "key-auth",
  "key-auth-enc",
  "jwt",
  "basic-auth",
  "hmac-auth",
  "oauth2",
  "oauth2-introspection",
  "ldap-auth",
  "ldap-auth-advanced",
  "openid-connect",
  "mtls-auth",
  "jwt-signer",
  "acl",
  "opa",
  "session",
]);

/** A Kong plugin as both shapes write it: KongPlugin (`plugin`, `disabled`) and decK (`name`, `enabled`). */
interface PluginView {
  name: string;
  enabled: boolean;
  config: JsonObject;
  /** Path of `config` and of the on/off switch in the object. */
  configPath: Path;
  switchPath: Path;
}

function view(object: JsonObject | null, deck: boolean): PluginView | undefined {
  if (!object) return undefined;
  const name = str(deck ? object.name : object.plugin);
  if (!name) return undefined;
  const config = isJsonObject(object.config) ? object.config : {};
  return deck
    ? {
        name,
        enabled: object.enabled !== false,
        config,
        configPath: ["config"],
        switchPath: ["enabled"],
      }
    : {
        name,
        enabled: object.disabled !== true,
        config,
        configPath: ["config"],
        switchPath: ["disabled"],
      };
}

/** Both sides of a plugin change, or nothing when the plugin is neither side the wanted one. */
function pluginPair(ctx: RuleContext, names: (name: string) => boolean) {
  const deck = ctx.input.ref.group === DECK_GROUP;
  const before = view(ctx.before, deck);
  const after = view(ctx.after, deck);
  const wanted = (v: PluginView | undefined) => v !== undefined && names(v.name);
  if (!wanted(before) && !wanted(after)) return undefined;
  return { before, after };
}

const authPluginOff: BuiltinRule = {
  id: "kong/auth-plugin-removed",
  severity: "critical",
  match: plugins,
  rationale:
    "key-auth, jwt, acl, openid-connect and the other auth plugins are what keep anonymous callers out of the service, route or whole gateway they are attached to; deleted or disabled, that scope is open.",
  check: (ctx) => {
    const pair = pluginPair(ctx, (n) => AUTH_PLUGINS.has(n));
    if (!pair?.before?.enabled) return [];
    const { before, after } = pair;
    if (!after) return [{ message: `${ctx.name}: ${before.name} plugin deleted`, path: "" }];
    if (after.name !== before.name)
      return [
        {
          message: `${ctx.name}: ${before.name} plugin replaced by ${after.name}`,
          path: ctx.input.ref.group === DECK_GROUP ? "/name" : "/plugin",
        },
      ];
    if (!after.enabled)
      return [
        {
          message: `${ctx.name}: ${before.name} plugin disabled (${after.switchPath.join(".")})`,
          path: pointer(after.switchPath),
        },
      ];
    return [];
  },
};

const anonymousAllowed: BuiltinRule = {
  id: "kong/anonymous-allowed",
  severity: "high",
  match: plugins,
  rationale:
    "With `anonymous` set, a request that fails authentication is let through as that consumer instead of refused: authentication becomes optional.",
  check: (ctx) => {
    const pair = pluginPair(ctx, (n) => AUTH_PLUGINS.has(n));
    if (!pair?.after) return [];
    const before = pair.before?.config.anonymous;
    const after = pair.after.config.anonymous;
    const set = (v: JsonValue | undefined) => typeof v === "string" && v !== "";
    if (!set(after) || set(before) || (!pair.before && ctx.input.type !== "ADDED")) return [];
    return [
      {
        message: `${ctx.name}: ${pair.after.name} now lets unauthenticated requests through as consumer ${show(after)} (anonymous: ${show(before)} → ${show(after)})`,
        path: "/config/anonymous",
      },
    ];
  },
};

const aclWidened: BuiltinRule = {
  id: "kong/acl-widened",
  severity: "high",
  match: plugins,
  rationale:
    "The acl plugin's allow list names who may call; more groups allowed, fewer denied, or no allow list at all widens access.",
  check: (ctx) => {
    const pair = pluginPair(ctx, (n) => n === "acl");
    if (!pair?.before || !pair.after) return [];
    const groups = (v: PluginView, k: string) =>
      list(v.config[k]).filter((g): g is string => typeof g === "string");
    const hits: Hit[] = [];
    const oldAllow = groups(pair.before, "allow");
    const newAllow = groups(pair.after, "allow");
    const added = newAllow.filter((g) => !oldAllow.includes(g));
    if (oldAllow.length > 0 && newAllow.length === 0)
      hits.push({
        message: `${ctx.name}: acl allow list removed (${show(oldAllow)} → any group)`,
        path: "/config/allow",
        severity: "critical",
      });
    else if (added.length > 0 && oldAllow.length > 0)
      hits.push({
        message: `${ctx.name}: acl now also allows ${added.join(", ")} (${show(oldAllow)} → ${show(newAllow)})`,
        path: "/config/allow",
      });
    const nowDenied = groups(pair.after, "deny");
    const lifted = groups(pair.before, "deny").filter((g) => !nowDenied.includes(g));
    if (lifted.length > 0)
      hits.push({
        message: `${ctx.name}: acl no longer denies ${lifted.join(", ")}`,
        path: "/config/deny",
      });
    return hits;
  },
};

const WINDOWS = ["second", "minute", "hour", "day", "month", "year"];
const RATE_PLUGINS = new Set([
  "rate-limiting",
  "rate-limiting-advanced",
  "response-ratelimiting",
  "ai-rate-limiting-advanced",
  "request-size-limiting",
]);
const SHARED_POLICIES = new Set(["cluster", "redis"]);

const rateLimitWeakened: BuiltinRule = {
  id: "kong/rate-limit-weakened",
  severity: "medium",
  match: plugins,
  rationale:
    "Rate limits protect upstreams and budgets; raised many-fold, disabled, deleted, moved to the `local` policy (each node counts alone, so the real limit grows with the nodes) or counted per a wider key (limit_by) they no longer hold.",
  check: (ctx) => {
    const pair = pluginPair(ctx, (n) => RATE_PLUGINS.has(n));
    if (!pair?.before?.enabled) return [];
    const { before, after } = pair;
    if (!after)
      return [
        { message: `${ctx.name}: ${before.name} plugin deleted`, path: "", severity: "high" },
      ];
    if (!after.enabled)
      return [
        {
          message: `${ctx.name}: ${before.name} plugin disabled`,
          path: pointer(after.switchPath),
          severity: "high",
        },
      ];
    const hits: Hit[] = [];
    for (const window of WINDOWS) {
      hits.push(
        ...limitHits(
          ctx,
          ["config", window],
          num(before.config[window]),
          num(after.config[window]),
          `${window} limit`,
        ),
      );
    }
    list(before.config.limit).forEach((limit, i) => {
      hits.push(
        ...limitHits(
          ctx,
          ["config", "limit", i],
          num(limit),
          num(list(after.config.limit)[i]),
          `limit ${i}`,
        ),
      );
    });
    const policy = (v: PluginView) => str(v.config.policy) ?? str(v.config.strategy);
    const oldPolicy = policy(before);
    if (oldPolicy && SHARED_POLICIES.has(oldPolicy) && policy(after) === "local") {
      hits.push({
        message: `${ctx.name}: ${before.name} policy "${oldPolicy}" → "local" (counted per node)`,
        path: after.config.policy !== undefined ? "/config/policy" : "/config/strategy",
      });
    }
    if (before.config.limit_by !== after.config.limit_by && before.config.limit_by !== undefined) {
      hits.push({
        message: `${ctx.name}: ${before.name} limit_by ${show(before.config.limit_by)} → ${show(after.config.limit_by)}`,
        path: "/config/limit_by",
      });
    }
    return hits;
  },
};

const corsOpened: BuiltinRule = {
  id: "kong/cors-any-origin",
  severity: "high",
  match: plugins,
  singleState: true,
  rationale:
    "A cors plugin allowing any origin lets every website read responses in a visitor's browser; with credentials it can act as the logged-in user.",
  check: (ctx) => {
    const pair = pluginPair(ctx, (n) => n === "cors");
    if (!pair?.after?.enabled) return [];
    return corsHits(
      ctx,
      ["config", "origins"],
      list(pair.before?.config.origins),
      list(pair.after.config.origins),
      pair.after.config.credentials === true,
    );
  },
};

const ipRestrictionWidened: BuiltinRule = {
  id: "kong/ip-restriction-widened",
  severity: "high",
  match: plugins,
  rationale:
    "ip-restriction's allow list names the networks that may call; a wider CIDR (0.0.0.0/0 is the whole Internet) or a lifted deny admits more callers.",
  check: (ctx) => {
    const pair = pluginPair(ctx, (n) => n === "ip-restriction");
    if (!pair?.before || !pair.after) return [];
    const cidrs = (v: PluginView, k: string) =>
      list(v.config[k]).filter((c): c is string => typeof c === "string");
    const hits: Hit[] = [];
    const wider = widenedCidrs(cidrs(pair.before, "allow"), cidrs(pair.after, "allow"));
    if (wider.length > 0 && cidrs(pair.before, "allow").length > 0) {
      hits.push({
        message: `${ctx.name}: ip-restriction now allows ${wider.join(", ")}`,
        path: "/config/allow",
        severity: wider.some(isEverything) ? "critical" : "high",
      });
    }
    const nowDenied = cidrs(pair.after, "deny");
    const lifted = cidrs(pair.before, "deny").filter((c) => !nowDenied.includes(c));
    if (lifted.length > 0)
      hits.push({
        message: `${ctx.name}: ip-restriction no longer denies ${lifted.join(", ")}`,
        path: "/config/deny",
      });
    return hits;
  },
};

const CODE_PLUGINS = new Set(["pre-function", "post-function"]);

const serverlessCode: BuiltinRule = {
  id: "kong/serverless-code-changed",
  severity: "high",
  match: plugins,
  rationale:
    "pre-function and post-function run arbitrary Lua on every request, with access to headers, bodies and credentials; any change to that code deserves a review.",
  check: (ctx) => {
    const pair = pluginPair(ctx, (n) => CODE_PLUGINS.has(n));
    if (!pair?.after) return [];
    return Object.entries(pair.after.config).flatMap(([phase, code]) => {
      const old = pair.before?.config[phase];
      if (JSON.stringify(old) === JSON.stringify(code)) return [];
      const text = (v: JsonValue | undefined) => list(v).map(String).join("\n--\n");
      const [counts, ...lines] = describeLineDiff(lineDiff(text(old), text(code)), "  ");
      return [
        {
          message: `${ctx.name}: ${phase} Lua code changed, ${counts}\n${lines.join("\n")}`,
          path: pointer(["config", phase]),
        },
      ];
    });
  },
};

const AI_PROXY = new Set(["ai-proxy", "ai-proxy-advanced"]);

/** `provider/name` of each model an ai-proxy plugin routes to, with where it sits. */
function aiModels(
  v: PluginView | undefined,
): Map<string, { model: string; path: Path; upstream?: string }> {
  const out = new Map<string, { model: string; path: Path; upstream?: string }>();
  if (!v) return out;
  const add = (key: string, model: JsonValue | undefined, path: Path) => {
    if (!isJsonObject(model)) return;
    const upstream = str(get(model, ["options", "upstream_url"]));
    out.set(key, {
      model: `${str(model.provider) ?? "?"}/${str(model.name) ?? "?"}`,
      path,
      ...(upstream && { upstream }),
    });
  };
  add("model", v.config.model, ["config", "model"]);
  objects(v.config.targets).forEach((t, i) => {
    add(str(t.description) ?? `#${i}`, t.model, ["config", "targets", i, "model"]);
  });
  return out;
}

const aiModelSwapped: BuiltinRule = {
  id: "kong/ai-model-swapped",
  severity: "high",
  match: plugins,
  rationale:
    "Clients keep calling the same route; an ai-proxy whose provider or model changed silently answers them with another model (other quality, cost, data-processing terms).",
  check: (ctx) => {
    const pair = pluginPair(ctx, (n) => AI_PROXY.has(n));
    if (!pair?.before || !pair.after) return [];
    const old = aiModels(pair.before);
    return [...aiModels(pair.after)].flatMap(([key, now]) => {
      const was = old.get(key);
      if (!was) return [];
      const hits: Hit[] = [];
      if (was.model !== now.model)
        hits.push({
          message: `${ctx.name}: model ${key === "model" ? "" : `${key} `}"${was.model}" → "${now.model}"`,
          path: pointer(now.path),
        });
      hits.push(
        ...hostHits(
          ctx,
          [...now.path, "options", "upstream_url"],
          was.upstream,
          now.upstream,
          "AI provider URL",
        ),
      );
      return hits;
    });
  },
};

const serviceHost: BuiltinRule = {
  id: "kong/upstream-host-changed",
  severity: "medium",
  match: [{ group: DECK_GROUP, kinds: ["Service", "Upstream"] }],
  singleState: true,
  rationale:
    "A service's host or url, or an upstream's targets, are where Kong sends requests; a new host, above all one outside the allowed list, may be a diversion.",
  check: (ctx) => {
    if (ctx.input.ref.kind === "Upstream") {
      const targets = (o: JsonObject | null) =>
        objects(get(o, ["targets"])).map((t) => str(t.target) ?? "");
      const old = targets(ctx.before);
      return targets(ctx.after).flatMap((t, i) =>
        old.includes(t)
          ? []
          : hostHits(ctx, ["targets", i, "target"], old[i], t, "upstream target"),
      );
    }
    const field = get(ctx.after, ["url"]) !== undefined ? "url" : "host";
    const oldField = get(ctx.before, ["url"]) !== undefined ? "url" : "host";
    return hostHits(ctx, [field], get(ctx.before, [oldField]), get(ctx.after, [field]), "service");
  },
};

const tlsVerifyOff: BuiltinRule = {
  id: "kong/tls-verify-disabled",
  severity: "high",
  match: [{ group: DECK_GROUP, kinds: ["Service", "Upstream"] }],
  rationale:
    "With certificate verification off, Kong talks TLS to whatever answers at the upstream address: a man in the middle goes unnoticed.",
  check: (ctx) => {
    const paths: Path[] = [["tls_verify"], ["healthchecks", "active", "https_verify_certificate"]];
    return paths.flatMap((path) =>
      get(ctx.before, path) === true && get(ctx.after, path) === false
        ? [{ message: `${ctx.name}: ${path.join(".")} true → false`, path: pointer(path) }]
        : [],
    );
  },
};

export const kongRules: BuiltinRule[] = [
  authPluginOff,
  anonymousAllowed,
  aclWidened,
  rateLimitWeakened,
  corsOpened,
  ipRestrictionWidened,
  serverlessCode,
  aiModelSwapped,
  serviceHost,
  tlsVerifyOff,
];
