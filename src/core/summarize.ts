import type { PatchOp } from "../model/change.js";
import type { JsonValue } from "../model/json.js";
import { valueAt } from "./diff.js";

const MAX_VALUE_CHARS = 80;
const ABSENT = "(absent)";

/**
 * One line per changed path, in the form people read in a review:
 * `spec.rules[0].backendRefs[0].weight: 90 → 0`. Values come from the (already masked)
 * documents, so a summary can never show a secret the patch does not.
 */
export function summarize(patch: PatchOp[], before: JsonValue, after: JsonValue): string[] {
  return patch.map((op) => {
    switch (op.op) {
      case "add":
        return `${displayPath(op.path, after)}: ${ABSENT} → ${renderValue(op.value)}`;
      case "remove":
        return `${displayPath(op.path, before)}: ${renderValue(valueAt(before, op.path))} → ${ABSENT}`;
      case "replace":
        return `${displayPath(op.path, after)}: ${renderValue(valueAt(before, op.path))} → ${renderValue(op.value)}`;
      default:
        return `${op.op} ${displayPath(op.path, after)}`;
    }
  });
}

/** JSON pointer → `spec.rules[0].matches[1].path.value`, quoting keys that need it. */
export function displayPath(pointer: string, doc: JsonValue): string {
  if (pointer === "") return "(root)";
  let out = "";
  let node: JsonValue | undefined = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(node) || (node === undefined && /^\d+$/.test(key))) out += `[${key}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(key)}]`;
    node =
      node !== null && typeof node === "object"
        ? Array.isArray(node)
          ? node[Number(key)]
          : node[key]
        : undefined;
  }
  return out;
}

export function renderValue(value: unknown): string {
  if (value === undefined) return ABSENT;
  const text = JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}
