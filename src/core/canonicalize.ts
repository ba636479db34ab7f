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
 * Returns the object without server-set noise, with object keys sorted, so that two reads of
 * the same configuration are byte-identical once serialized (the content hash relies on it).
 * The input is never modified; subtrees that are already canonical are shared, not copied.
 */
export function canonicalize(input: JsonObject, options: CanonicalizeOptions = {}): JsonObject {
  const copy = { ...(sorted(input) as JsonObject) };
  const metadata = copy.metadata;
  if (isJsonObject(metadata)) {
    const meta = { ...metadata };
    for (const key of DEFAULT_DROPPED_METADATA) delete meta[key];
    const annotations = meta.annotations;
    if (isJsonObject(annotations) && LAST_APPLIED in annotations) {
      const { [LAST_APPLIED]: _dropped, ...rest } = annotations;
      if (Object.keys(rest).length === 0) delete meta.annotations;
      else meta.annotations = rest;
    }
    copy.metadata = meta;
  }
  if (!options.keepStatus) delete copy.status;
  if (options.ignorePaths?.length) {
    const owned = structuredClone(copy);
    for (const path of options.ignorePaths) dropPath(owned, splitDottedPath(path));
    return owned;
  }
  return copy;
}

/** The value with sorted keys at every level; the value itself when it already is. */
function sorted(value: JsonValue): JsonValue {
  if (Array.isArray(value)) {
    let out: JsonValue[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const child = sorted(value[i] as JsonValue);
      if (child !== value[i] && out === null) out = value.slice();
      if (out !== null) out[i] = child;
    }
    return out ?? value;
  }
  if (!isJsonObject(value)) return value;
  const keys = Object.keys(value);
  return isSorted(keys) ? sortedChildren(value, keys) : rebuilt(value, keys.sort());
}

/** Keys already in order: copy only when a child changed. */
function sortedChildren(value: JsonObject, keys: string[]): JsonObject {
  let out: JsonObject | null = null;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const before = value[key];
    const child = skipped(key, before) ? undefined : sorted(before as JsonValue);
    if (child !== before && out === null) out = copyFirst(value, keys, i);
    if (out !== null && child !== undefined) out[key] = child;
  }
  return out ?? value;
}

function rebuilt(value: JsonObject, sortedKeys: string[]): JsonObject {
  const out: JsonObject = {};
  for (const key of sortedKeys) {
    const child = value[key];
    if (!skipped(key, child)) out[key] = sorted(child as JsonValue);
  }
  return out;
}

/**
 * YAML can yield undefined for odd inputs; JSON has no such value. A `__proto__` key would
 * set the copy's prototype (and patch appliers refuse it): no gateway uses one.
 */
function skipped(key: string, value: JsonValue | undefined): boolean {
  return value === undefined || key === "__proto__";
}

function copyFirst(value: JsonObject, keys: string[], count: number): JsonObject {
  const out: JsonObject = {};
  for (let i = 0; i < count; i++) out[keys[i] as string] = value[keys[i] as string] as JsonValue;
  return out;
}

function isSorted(keys: string[]): boolean {
  for (let i = 1; i < keys.length; i++)
    if ((keys[i - 1] as string) > (keys[i] as string)) return false;
  return true;
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
