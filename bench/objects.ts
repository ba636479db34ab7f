import type { JsonObject } from "../src/model/json.js";
import type { Location } from "../src/model/observation.js";
import type { Ref } from "../src/model/ref.js";

/** Where route i of a benchmark source lives: its ref and the file it is read from. */
export function routeFields(source: string, i: number): { ref: Ref; location: Location } {
  return {
    ref: {
      source,
      group: "gateway.networking.k8s.io",
      kind: "HTTPRoute",
      namespace: `team-${i % 50}`,
      name: `route-${i}`,
    },
    location: { path: `/bench/route-${i}.yaml`, line: 1 },
  };
}

/**
 * HTTPRoute-like objects of 2–4 KiB: hostnames, several rules with matches, filters and
 * weighted backends, labels and annotations, as real routes carry. Version v of route i
 * differs from version v-1 as a typical edit does: one rule's traffic split shifts (two
 * weights), and the server-set resourceVersion moves (noise that canonicalization drops).
 */
export function makeRoute(i: number, version: number): JsonObject {
  const rules = 4 + (i % 4);
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: {
      name: `route-${i}`,
      namespace: `team-${i % 50}`,
      resourceVersion: String(version * 100_000 + i),
      labels: { app: `svc-${i}`, team: `team-${i % 50}`, tier: i % 2 ? "frontend" : "backend" },
      annotations: {
        "example.com/owner": `owner-${i % 97}@example.com`,
        "example.com/ticket": `OPS-${i}`,
      },
    },
    spec: {
      parentRefs: [{ name: "shared-gw", namespace: "infra", sectionName: "https" }],
      hostnames: [`svc-${i}.example.com`, `svc-${i}.internal.example.com`],
      rules: Array.from({ length: rules }, (_, r) => ({
        matches: [
          {
            path: { type: "PathPrefix", value: `/api/v${r + 1}/svc-${i}` },
            method: r % 2 ? "GET" : "POST",
          },
          { headers: [{ name: "x-canary", value: r === 0 ? "always" : "never" }] } as JsonObject,
        ],
        filters: [
          {
            type: "RequestHeaderModifier",
            requestHeaderModifier: {
              set: [{ name: "x-route", value: `route-${i}-${r}` }],
              remove: ["x-debug"],
            },
          },
        ],
        backendRefs: [
          { name: `svc-${i}-v1`, port: 8080, weight: canaryWeight(r, version, rules) },
          { name: `svc-${i}-v2`, port: 8080, weight: 100 - canaryWeight(r, version, rules) },
        ],
        timeouts: { request: `${10 + (r % 5)}s` },
      })),
    },
    status: {
      parents: [{ parentRef: { name: "shared-gw" }, controllerName: "example.com/gateway" }],
    },
  };
}

/** Rule r's weight at version v: set by the last version u ≤ v with u % rules === r. */
function canaryWeight(r: number, version: number, rules: number): number {
  if (version < r) return 90;
  const lastShift = version - ((version - r) % rules);
  return (lastShift * 7) % 101;
}
