import fjp from "fast-json-patch";
import type { PatchOp } from "../model/change.js";
import type { JsonValue } from "../model/json.js";

/**
 * RFC 6902 patch that turns `before` into `after`. fast-json-patch's `compare` is used
 * because it is fast and its applier passes the json-patch-tests suite (see
 * docs/decisions/0003-diff-and-patch.md). Array edits are index-based: an insertion at the
 * front shows as replacements plus an append; the patch is still exact.
 */
export function diff(before: JsonValue, after: JsonValue): PatchOp[] {
  // compare() walks containers only; a scalar or container-kind change at the root is one replace.
  if (!sameContainerKind(before, after)) {
    return isDeepEqual(before, after) ? [] : [{ op: "replace", path: "", value: after }];
  }
  return fjp.compare(before as object, after as object) as PatchOp[];
}

function sameContainerKind(a: JsonValue, b: JsonValue): boolean {
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
