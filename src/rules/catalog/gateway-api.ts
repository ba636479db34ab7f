import { isJsonObject, type JsonObject, type JsonValue } from "../../model/json.js";
import { corsHits } from "../lib/checks.js";
import { get, objects, type Path, pointer, show, str } from "../lib/values.js";
import type { BuiltinRule, Hit, RuleContext } from "../types.js";

export const GATEWAY_API_GROUP = "gateway.networking.k8s.io";
const ROUTE_KINDS = ["HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"];
const gateways = [{ group: GATEWAY_API_GROUP, kinds: ["Gateway", "ListenerSet", "XListenerSet"] }];
const routes = [{ group: GATEWAY_API_GROUP, kinds: ROUTE_KINDS }];

/** Listeners by name, so a reordering is not read as a change. */
function listeners(object: JsonObject | null): Map<string, { index: number; value: JsonObject }> {
  const out = new Map<string, { index: number; value: JsonObject }>();
  objects(get(object, ["spec", "listeners"])).forEach((value, index) => {
    out.set(str(value.name) ?? `#${index}`, { index, value });
  });
  return out;
}

/** Runs `judge` on each listener of the new state beside its old self (or undefined). */
function perListener(
  ctx: RuleContext,
  judge: (old: JsonObject | undefined, now: JsonObject, path: Path, name: string) => Hit[],
): Hit[] {
  const old = listeners(ctx.before);
  return [...listeners(ctx.after)].flatMap(([name, { index, value }]) =>
    judge(old.get(name)?.value, value, ["spec", "listeners", index], name),
  );
}

const tlsPassthrough: BuiltinRule = {
  id: "gateway-api/tls-passthrough",
  severity: "high",
  match: gateways,
  rationale:
    "With Passthrough the gateway no longer terminates TLS: it cannot see requests, so route filters, auth policies and header rules stop applying and the backend's own certificate is what clients trust.",
  check: (ctx) =>
    perListener(ctx, (old, now, path, name) =>
      old &&
      get(old, ["tls", "mode"]) !== "Passthrough" &&
      get(now, ["tls", "mode"]) === "Passthrough"
        ? [
            {
              message: `${ctx.name}: listener ${name} TLS mode ${show(get(old, ["tls", "mode"]) ?? "Terminate")} → "Passthrough"`,
              path: pointer([...path, "tls", "mode"]),
            },
          ]
        : [],
    ),
};

const allNamespaces: BuiltinRule = {
  id: "gateway-api/listener-all-namespaces",
  severity: "high",
  match: gateways,
  rationale:
    "allowedRoutes.namespaces.from: All lets a route in any namespace attach to the listener, so any team (or attacker) with write access to some namespace can publish on this hostname.",
  check: (ctx) =>
    perListener(ctx, (old, now, path, name) => {
      const at = [...path, "allowedRoutes", "namespaces", "from"];
      const before = old
        ? (get(old, ["allowedRoutes", "namespaces", "from"]) ?? "Same")
        : undefined;
      const after = get(now, ["allowedRoutes", "namespaces", "from"]);
      if (after !== "All" || before === "All") return [];
      return [
        {
          message: `${ctx.name}: listener ${name} now accepts routes from all namespaces (${show(before)} → "All")`,
          path: pointer(at),
        },
      ];
    }),
};

const clientValidationRelaxed: BuiltinRule = {
  id: "gateway-api/client-validation-relaxed",
  severity: "high",
  match: gateways,
  rationale:
    "Frontend (client certificate) validation is how a listener demands mTLS; removing it or allowing insecure fallback lets clients in without a certificate.",
  check: (ctx) => {
    const hits: Hit[] = [];
    for (const path of [
      ["spec", "tls", "frontend"],
      ["spec", "tls", "default", "frontendValidation"],
    ] as Path[]) {
      hits.push(...relaxedValidation(ctx, path, get(ctx.before, path), get(ctx.after, path)));
    }
    hits.push(
      ...perListener(ctx, (old, now, path) =>
        relaxedValidation(
          ctx,
          [...path, "tls", "frontendValidation"],
          get(old, ["tls", "frontendValidation"]),
          get(now, ["tls", "frontendValidation"]),
        ),
      ),
    );
    return hits;
  },
};

function relaxedValidation(
  ctx: RuleContext,
  path: Path,
  before: JsonValue | undefined,
  after: JsonValue | undefined,
): Hit[] {
  if (before === undefined || ctx.after === null) return [];
  if (after === undefined)
    return [
      {
        message: `${ctx.name}: client certificate validation removed (${path.join(".")})`,
        path: pointer(path),
      },
    ];
  const mode = (v: JsonValue | undefined) => JSON.stringify(v).includes("AllowInsecureFallback");
  if (mode(after) && !mode(before)) {
    return [
      {
        message: `${ctx.name}: client certificate validation now allows insecure fallback (${path.join(".")})`,
        path: pointer(path),
      },
    ];
  }
  return [];
}

const hostnamesWidened: BuiltinRule = {
  id: "gateway-api/hostnames-widened",
  severity: "medium",
  match: [...gateways, ...routes],
  rationale:
    "A route without hostnames, or with a wildcard, answers for every host its listener accepts; traffic meant for other sites may now reach this backend.",
  check: (ctx) => {
    if (!ctx.before || !ctx.after) return [];
    if (!ROUTE_KINDS.includes(ctx.input.ref.kind)) {
      return listenerHostnamesWidened(ctx);
    }
    const hits: Hit[] = [];
    const before = get(ctx.before, ["spec", "hostnames"]);
    const after = get(ctx.after, ["spec", "hostnames"]);
    if (
      Array.isArray(before) &&
      before.length > 0 &&
      (after === undefined || (Array.isArray(after) && after.length === 0))
    ) {
      hits.push({
        message: `${ctx.name}: hostnames removed (${show(before)} → any host)`,
        path: "/spec/hostnames",
      });
    }
    if (
      Array.isArray(after) &&
      after.includes("*") &&
      !(Array.isArray(before) && before.includes("*"))
    ) {
      hits.push({
        message: `${ctx.name}: hostnames now include "*" (${show(before)} → ${show(after)})`,
        path: "/spec/hostnames",
      });
    }
    return hits;
  },
};

/** A listener's hostname removed (any host) or turned into a wildcard. */
function listenerHostnamesWidened(ctx: RuleContext): Hit[] {
  return perListener(ctx, (old, now, path, name) => {
    const before = str(old?.hostname);
    const after = str(now.hostname);
    if (!old || before === undefined || before === after) return [];
    const wider = after === undefined || (after.startsWith("*.") && !before.startsWith("*."));
    if (!wider) return [];
    return [
      {
        message: `${ctx.name}: listener ${name} hostname ${show(before)} → ${show(after ?? "any host")}`,
        path: pointer([...path, "hostname"]),
      },
    ];
  });
}

/** `rules[i].backendRefs` weights by backend name; a missing weight is 1 (the spec's default). */
function weights(rule: JsonObject): Map<string, number> {
  const out = new Map<string, number>();
  for (const ref of objects(rule.backendRefs)) {
    const key = `${str(ref.namespace) ?? ""}/${str(ref.name) ?? "?"}:${String(ref.port ?? "")}`;
    out.set(key, typeof ref.weight === "number" ? ref.weight : 1);
  }
  return out;
}

/** Share of traffic per backend: weight / total, so 90/10 → 0/100 reads as a shift. */
export function trafficShiftHits(ctx: RuleContext, rulesPath: Path): Hit[] {
  if (!ctx.before || !ctx.after) return [];
  const oldRules = objects(get(ctx.before, rulesPath));
  return objects(get(ctx.after, rulesPath)).flatMap((rule, i) => {
    const old = oldRules[i];
    if (!old) return [];
    const a = weights(old);
    const b = weights(rule);
    const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0) || 1;
    const totalA = total(a);
    const totalB = total(b);
    const changed = [...new Set([...a.keys(), ...b.keys()])].filter(
      (k) => Math.abs((a.get(k) ?? 0) / totalA - (b.get(k) ?? 0) / totalB) > 1e-9,
    );
    if (changed.length === 0) return [];
    const describe = (k: string) =>
      `${k.split("/")[1]} ${a.get(k) ?? "absent"} → ${b.get(k) ?? "absent"}`;
    return [
      {
        message: `${ctx.name}: rule ${i} traffic moved between backends (${changed.map(describe).join(", ")})`,
        path: pointer([...rulesPath, i, "backendRefs"]),
      },
    ];
  });
}

const trafficShifted: BuiltinRule = {
  id: "gateway-api/traffic-shifted",
  severity: "medium",
  match: routes,
  rationale:
    "Weights or backends changed: a share of live traffic now goes to a different backend (a rollout, or a diversion).",
  check: (ctx) => trafficShiftHits(ctx, ["spec", "rules"]),
};

const mirrorAdded: BuiltinRule = {
  id: "gateway-api/mirror-added",
  severity: "medium",
  match: routes,
  rationale:
    "A RequestMirror filter copies every matching request, bodies and credentials included, to another backend.",
  check: (ctx) => {
    const mirrors = (o: JsonObject | null) =>
      objects(get(o, ["spec", "rules"])).flatMap((rule, i) =>
        objects(rule.filters).flatMap((f, j) =>
          f.type === "RequestMirror"
            ? [
                {
                  key: JSON.stringify(f.requestMirror ?? null),
                  path: ["spec", "rules", i, "filters", j] as Path,
                },
              ]
            : [],
        ),
      );
    const old = new Set(mirrors(ctx.before).map((m) => m.key));
    return mirrors(ctx.after)
      .filter((m) => !old.has(m.key))
      .map((m) => ({
        message: `${ctx.name}: requests now mirrored to ${m.key}`,
        path: pointer(m.path),
      }));
  },
};

const corsOpened: BuiltinRule = {
  id: "gateway-api/cors-any-origin",
  severity: "high",
  match: routes,
  singleState: true,
  rationale:
    "A CORS policy allowing any origin lets every website read responses from this route in a visitor's browser; with credentials it can act as the logged-in user.",
  check: (ctx) =>
    objects(get(ctx.after, ["spec", "rules"])).flatMap((rule, i) =>
      objects(rule.filters).flatMap((f, j) => {
        if (!isJsonObject(f.cors)) return [];
        const oldCors = get(ctx.before, ["spec", "rules", i, "filters", j, "cors"]);
        const path: Path = ["spec", "rules", i, "filters", j, "cors", "allowOrigins"];
        const before =
          isJsonObject(oldCors) && Array.isArray(oldCors.allowOrigins) ? oldCors.allowOrigins : [];
        return corsHits(
          ctx,
          path,
          before,
          Array.isArray(f.cors.allowOrigins) ? f.cors.allowOrigins : [],
          f.cors.allowCredentials === true,
        );
      }),
    ),
};

const referenceGrantWidened: BuiltinRule = {
  id: "gateway-api/referencegrant-widened",
  severity: "high",
  match: [{ group: GATEWAY_API_GROUP, kinds: ["ReferenceGrant"] }],
  rationale:
    "A ReferenceGrant lets objects in other namespaces use Secrets or Services here; a new `from` or a `to` without a name opens more of them to more namespaces.",
  check: (ctx) => {
    if (!ctx.after || ctx.input.type === "DELETED") return [];
    const key = (o: JsonObject) =>
      JSON.stringify([o.group, o.kind, o.namespace ?? null, o.name ?? null]);
    const hits: Hit[] = [];
    for (const side of ["from", "to"] as const) {
      const old = new Set(objects(get(ctx.before, ["spec", side])).map(key));
      objects(get(ctx.after, ["spec", side])).forEach((entry, i) => {
        if (ctx.before && !old.has(key(entry))) {
          hits.push({
            message: `${ctx.name}: ${side} now includes ${entry.kind ?? "?"}${entry.namespace ? ` in ${entry.namespace}` : ""}${entry.name ? ` named ${entry.name}` : side === "to" ? " (any name)" : ""}`,
            path: pointer(["spec", side, i]),
          });
        }
      });
    }
    return hits;
  },
};

const backendTlsRelaxed: BuiltinRule = {
  id: "gateway-api/backend-tls-relaxed",
  severity: "high",
  match: [{ group: GATEWAY_API_GROUP, kinds: ["BackendTLSPolicy"] }],
  rationale:
    "BackendTLSPolicy validation is what makes the gateway check the backend's certificate; weakening it allows a man in the middle.",
  check: (ctx) => {
    const path: Path = ["spec", "validation"];
    const before = get(ctx.before, path);
    const after = get(ctx.after, path);
    if (!isJsonObject(before) || ctx.after === null) return [];
    if (!isJsonObject(after))
      return [
        { message: `${ctx.name}: backend certificate validation removed`, path: pointer(path) },
      ];
    if (
      JSON.stringify(before.caCertificateRefs) !== JSON.stringify(after.caCertificateRefs) &&
      after.wellKnownCACertificates !== undefined &&
      before.wellKnownCACertificates === undefined
    ) {
      return [
        {
          message: `${ctx.name}: backend certificates now checked against the system CAs instead of ${show(before.caCertificateRefs)}`,
          path: pointer([...path, "wellKnownCACertificates"]),
          severity: "medium",
        },
      ];
    }
    if (before.hostname === after.hostname) return [];
    return [
      {
        message: `${ctx.name}: backend certificate hostname ${show(before.hostname)} → ${show(after.hostname)}`,
        path: pointer([...path, "hostname"]),
        severity: "medium",
      },
    ];
  },
};

export const gatewayApiRules: BuiltinRule[] = [
  tlsPassthrough,
  allNamespaces,
  clientValidationRelaxed,
  hostnamesWidened,
  trafficShifted,
  mirrorAdded,
  corsOpened,
  referenceGrantWidened,
  backendTlsRelaxed,
];
