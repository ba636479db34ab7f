import { isJsonObject, type JsonObject, type JsonValue } from "../model/json.js";

/** Server-set fields that say nothing about what the user configured. */
const DEFAULT_DROPPED_METADATA = [
  "resourceVersion",
  "uid",
  "generation",
  "creationTimestamp",
  "managedFields",
  "selfLink",
] as const;

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

export interface CanonicalizeOptions {
  /** Keep `status` (dropped by default: it is the controller's, not the user's). */
  keepStatus?: boolean;
  /** Extra paths to drop, as dotted paths (`metadata.labels.pod-template-hash`). */
  ignorePaths?: string[];
}

/**
 * Returns a copy without server-set noise, with object keys sorted, so that two reads of
 * the same configuration are byte-identical once serialized (the content hash relies on it).
 */
export function canonicalize(input: JsonObject, options: CanonicalizeOptions = {}): JsonObject {
  const copy = sortedCopy(input) as JsonObject;
  const metadata = copy.metadata;
  if (isJsonObject(metadata)) {
    for (const key of DEFAULT_DROPPED_METADATA) delete metadata[key];
    const annotations = metadata.annotations;
    if (isJsonObject(annotations)) {
      delete annotations[LAST_APPLIED];
      if (Object.keys(annotations).length === 0) delete metadata.annotations;
    }
  }
  if (!options.keepStatus) delete copy.status;
  for (const path of options.ignorePaths ?? []) dropPath(copy, splitDottedPath(path));
  return copy;
}

function sortedCopy(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortedCopy);
  if (!isJsonObject(value)) return value;
  const out: JsonObject = {};
  for (const key of Object.keys(value).sort()) {
    const child = value[key];
    // YAML can yield undefined for odd inputs; JSON has no such value. A `__proto__` key
    // would set the copy's prototype (and patch appliers refuse it): no gateway uses one.
    if (child !== undefined && key !== "__proto__") out[key] = sortedCopy(child);
  }
  return out;
}

/** `metadata.annotations["a.b/c"]` → [`metadata`, `annotations`, `a.b/c`]. */
export function splitDottedPath(path: string): string[] {
  const parts: string[] = [];
  const re = /([^.[\]]+)|\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]/g;
  for (const m of path.matchAll(re)) parts.push(m[1] ?? m[2] ?? m[3] ?? "");
  return parts;
}

function dropPath(root: JsonValue, parts: string[]): void {
  let node: JsonValue | undefined = root;
  for (let i = 0; i < parts.length - 1; i++) {
    if (node === undefined || node === null || typeof node !== "object") return;
    node = Array.isArray(node) ? node[Number(parts[i])] : node[parts[i] as string];
  }
  const last = parts[parts.length - 1];
  if (last === undefined || node === null || typeof node !== "object") return;
  if (Array.isArray(node)) node.splice(Number(last), 1);
  else delete node[last];
}
