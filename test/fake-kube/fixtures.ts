import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sharedDir } from "../helpers.js";
import type { FakeKubeServer } from "./server.js";
import { readCrd, readYamlObjects } from "./types.js";

type Json = Record<string, unknown>;

/** CRDs from ../shared/fixtures that the scenario tests serve (read at test time, never copied). */
export const CRD_FILES = {
  HTTPRoute: "gateway-api/gateway.networking.k8s.io_httproutes.yaml",
  Gateway: "gateway-api/gateway.networking.k8s.io_gateways.yaml",
  SecurityPolicy: "envoy-gateway/gateway.envoyproxy.io_securitypolicies.yaml",
  KongPlugin: "kong/configuration.konghq.com_kongplugins.yaml",
  KongConsumer: "kong/configuration.konghq.com_kongconsumers.yaml",
} as const;

export type FixtureKind = keyof typeof CRD_FILES;

export async function fixtureCrd(kind: FixtureKind): Promise<Json> {
  return readCrd(join(sharedDir, "fixtures", CRD_FILES[kind]));
}

/** The objects of the given kinds in a fixture file, namespaced into `default` where they name none. */
export async function fixtureObjects(file: string, kinds: string[]): Promise<Json[]> {
  const all = await readYamlObjects(join(sharedDir, "fixtures", file));
  return all
    .filter((o) => kinds.includes(String(o.kind)))
    .map((o) => {
      const metadata = { ...(o.metadata as Json) };
      metadata.namespace ??= "default";
      return { ...o, metadata };
    });
}

/** A server serving the named fixture CRDs. */
export async function installFixtureCrds(
  server: FakeKubeServer,
  kinds: FixtureKind[],
): Promise<void> {
  for (const kind of kinds) server.installCrd(await fixtureCrd(kind));
}

/**
 * A kubeconfig pointing at the fake server. Plain HTTP needs `insecure-skip-tls-verify`:
 * @kubernetes/client-node refuses an http: server otherwise.
 */
export async function writeKubeconfig(
  dir: string,
  url: string,
  token = "fake-token",
): Promise<string> {
  const path = join(dir, "kubeconfig");
  await writeFile(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: fake",
      "  cluster:",
      `    server: ${url}`,
      "    insecure-skip-tls-verify: true",
      "users:",
      "- name: crwatch",
      "  user:",
      `    token: ${token}`,
      "contexts:",
      "- name: fake",
      "  context: {cluster: fake, user: crwatch}",
      "current-context: fake",
      "",
    ].join("\n"),
  );
  return path;
}
