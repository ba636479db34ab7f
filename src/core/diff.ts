import fjp from "fast-json-patch";
import type { PatchOp } from "../model/change.js";
import type { JsonValue } from "../model/json.js";

/**
 * RFC 6902 patch that turns `before` into `after`: the patch fast-json-patch's `compare`
 * gives, op for op (see docs/decisions/0003-diff-and-patch.md), computed without its costs on
 * the ingest hot path (decision 0033): a path string is built only for an emitted operation,
 * array indexes are not turned into key strings, and values are shared with `after`, not
 * deep-cloned (objects on this path are never mutated; `applyPatch` copies what it applies).
 * Array edits are index-based: an insertion at the front shows as replacements plus an
 * append; the patch is still exact.
 */
export function diff(before: JsonValue, after: JsonValue): PatchOp[] {
  // The walk compares containers only; a scalar or container-kind change at the root is one replace.
  if (!sameContainerKind(before, after)) {
    return isDeepEqual(before, after) ? [] : [{ op: "replace", path: "", value: after }];
  }
  const patches: PatchOp[] = [];
  walk(before as Container, after as Container, null, patches);
  return patches;
}

type Container = JsonValue[] | { [key: string]: JsonValue };

/** A path as a chain of parents, joined into a pointer only when an operation needs it. */
interface PathNode {
  parent: PathNode | null;
  token: string | number;
}

function pointer(at: PathNode | null, token: string | number): string {
  let path = `/${escapeToken(token)}`;
  for (let node = at; node !== null; node = node.parent)
    path = `/${escapeToken(node.token)}${path}`;
  return path;
}

function escapeToken(token: string | number): string | number {
  if (typeof token === "number") return token;
  if (token.indexOf("/") === -1 && token.indexOf("~") === -1) return token;
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** fast-json-patch's order: old keys last to first (replace, remove), then new keys (add). */
function walk(old: Container, now: Container, at: PathNode | null, out: PatchOp[]): void {
  if (old === now) return;
  if (Array.isArray(old)) walkArray(old, now as JsonValue[], at, out);
  else walkObject(old, now as { [key: string]: JsonValue }, at, out);
}

function walkArray(old: JsonValue[], now: JsonValue[], at: PathNode | null, out: PatchOp[]): void {
  for (let i = old.length - 1; i >= 0; i--) {
    if (i >= now.length) {
      out.push({ op: "remove", path: pointer(at, i) });
      continue;
    }
    compareAt(old[i], now[i], at, i, out);
  }
  for (let i = old.length; i < now.length; i++) {
    if (now[i] !== undefined) out.push({ op: "add", path: pointer(at, i), value: now[i] });
  }
}

function walkObject(
  old: { [key: string]: JsonValue },
  now: { [key: string]: JsonValue },
  at: PathNode | null,
  out: PatchOp[],
): void {
  const oldKeys = Object.keys(old);
  let deleted = false;
  for (let t = oldKeys.length - 1; t >= 0; t--) {
    const key = oldKeys[t] as string;
    const newVal = now[key];
    if (newVal !== undefined && hasOwn.call(now, key)) {
      compareAt(old[key], newVal, at, key, out);
    } else if (old[key] === undefined && hasOwn.call(now, key)) {
      // Both sides undefined: fast-json-patch sees equal values (JSON has none).
    } else {
      out.push({ op: "remove", path: pointer(at, key) });
      deleted = true;
    }
  }
  const newKeys = Object.keys(now);
  if (!deleted && newKeys.length === oldKeys.length) return;
  for (const key of newKeys) {
    if (!hasOwn.call(old, key) && now[key] !== undefined) {
      out.push({ op: "add", path: pointer(at, key), value: now[key] as JsonValue });
    }
  }
}

function compareAt(
  oldVal: JsonValue | undefined,
  newVal: JsonValue | undefined,
  at: PathNode | null,
  token: string | number,
  out: PatchOp[],
): void {
  if (sameContainerKind(oldVal, newVal)) {
    walk(oldVal as Container, newVal as Container, { parent: at, token }, out);
  } else if (oldVal !== newVal) {
    out.push({ op: "replace", path: pointer(at, token), value: newVal as JsonValue });
  }
}

const hasOwn = Object.prototype.hasOwnProperty;

function sameContainerKind(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return (
    typeof a === "object" &&
    a !== null &&
    typeof b === "object" &&
    b !== null &&
    Array.isArray(a) === Array.isArray(b)
  );
}

function isDeepEqual(a: JsonValue, b: JsonValue): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Applies a patch to a copy of `doc` and returns the result; throws on an invalid patch.
 * Array indexes are checked against RFC 6901 first (fast-json-patch accepts `01`).
 */
export function applyPatch(doc: JsonValue, patch: PatchOp[]): JsonValue {
  let current = structuredClone(doc);
  for (const op of fjp.deepClone(patch) as PatchOp[]) {
    checkArrayIndexes(current, op.path);
    if (op.from !== undefined) checkArrayIndexes(current, op.from);
    current = fjp.applyOperation(current, op as fjp.Operation, true, true, true, 0)
      .newDocument as JsonValue;
  }
  return current;
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

function checkArrayIndexes(doc: JsonValue, pointer: unknown): void {
  if (typeof pointer !== "string" || pointer === "") return;
  let node: JsonValue | undefined = doc;
  for (const raw of pointer.slice(1).split("/")) {
    if (Array.isArray(node)) {
      if (raw !== "-" && !ARRAY_INDEX.test(raw))
        throw new Error(`invalid array index "${raw}" in ${pointer}`);
      node = node[Number(raw)];
    } else if (node !== null && typeof node === "object") {
      node = node[raw.replace(/~1/g, "/").replace(/~0/g, "~")];
    } else {
      return;
    }
  }
}

export { valueAt } from "./pointer.js";
