import type { JsonObject } from "../src/model/json.js";

/**
 * HTTPRoute-like objects of 2–4 KiB: hostnames, several rules with matches, filters and
 * weighted backends, labels and annotations, as real routes carry.
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
          { name: `svc-${i}-v1`, port: 8080, weight: (version * 7 + r) % 101 },
          { name: `svc-${i}-v2`, port: 8080, weight: 100 - ((version * 7 + r) % 101) },
        ],
        timeouts: { request: `${10 + (version % 5)}s` },
      })),
    },
    status: {
      parents: [{ parentRef: { name: "shared-gw" }, controllerName: "example.com/gateway" }],
    },
  };
}
