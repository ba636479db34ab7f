import type { KubeClient } from "./client.js";
import { KubeHttpError } from "./client.js";
import type { KindSpec } from "./config.js";

/** A kind as the API serves it: the version to use and the path segment of its resource. */
export interface ServedKind extends KindSpec {
  version: string;
  /** The plural resource name, e.g. `httproutes`. */
  plural: string;
  namespaced: boolean;
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
  verbs?: string[];
}

interface ApiGroup {
  name: string;
  versions: { groupVersion: string; version: string }[];
  preferredVersion?: { groupVersion: string; version: string };
}

/**
 * Finds how a group/kind is served, through discovery: the group's preferred version when it
 * serves the kind, else the first other version that does. Null when the kind is not served
 * (the CRD is not installed, or was removed); other errors (401/403/5xx) throw.
 */
export async function discoverKind(
  client: KubeClient,
  spec: KindSpec,
  signal: AbortSignal,
): Promise<ServedKind | null> {
  for (const version of await versionsOf(client, spec.group, signal)) {
    const path = spec.group ? `/apis/${spec.group}/${version}` : `/api/${version}`;
    const resources = await getOrNull<{ resources?: ApiResource[] }>(client, path, signal);
    const found = resources?.resources?.find(
      (r) => r.kind === spec.kind && !r.name.includes("/") && watchable(r),
    );
    if (found)
      return { ...spec, version, plural: found.name, namespaced: Boolean(found.namespaced) };
  }
  return null;
}

/** The versions to try, preferred first. */
async function versionsOf(
  client: KubeClient,
  group: string,
  signal: AbortSignal,
): Promise<string[]> {
  if (!group) {
    const core = await getOrNull<{ versions?: string[] }>(client, "/api", signal);
    return core?.versions ?? [];
  }
  const list = await getOrNull<{ groups?: ApiGroup[] }>(client, "/apis", signal);
  const found = list?.groups?.find((g) => g.name === group);
  if (!found) return [];
  const preferred = found.preferredVersion?.version;
  const all = found.versions.map((v) => v.version);
  return preferred ? [preferred, ...all.filter((v) => v !== preferred)] : all;
}

function watchable(resource: ApiResource): boolean {
  return !resource.verbs || (resource.verbs.includes("list") && resource.verbs.includes("watch"));
}

async function getOrNull<T>(
  client: KubeClient,
  path: string,
  signal: AbortSignal,
): Promise<T | null> {
  try {
    return (await client.getJson(path, signal)) as T;
  } catch (err) {
    if (err instanceof KubeHttpError && err.status === 404) return null;
    throw err;
  }
}
