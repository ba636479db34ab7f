import type { PatchOp } from "../model/change.js";
import type { JsonValue } from "../model/json.js";
import { describeLineDiff, isMultiline, lineDiff } from "./line-diff.js";
import { childOf, parsePointer } from "./pointer.js";

const MAX_VALUE_CHARS = 80;
const ABSENT = "(absent)";

/**
 * One line per changed path, in the form people read in a review:
 * `spec.rules[0].backendRefs[0].weight: 90 → 0`. Values come from the (already masked)
 * documents, so a summary can never show a secret the patch does not.
 */
export function summarize(patch: PatchOp[], before: JsonValue, after: JsonValue): string[] {
  return patch.flatMap((op) => {
    if (op.op === "replace") {
      const old = walk(before, parsePointer(op.path));
      // A prompt, Lua code or an embedded file reads as a line diff, not one opaque replace.
      if (isMultiline(old) || isMultiline(op.value)) {
        return textChange(displayPath(op.path, after), String(old ?? ""), String(op.value ?? ""));
      }
    }
    const tokens = parsePointer(op.path);
    switch (op.op) {
      case "add":
        return `${displayTokens(tokens, after)}: ${ABSENT} → ${renderValue(op.value)}`;
      case "remove":
        return `${displayTokens(tokens, before)}: ${renderValue(walk(before, tokens))} → ${ABSENT}`;
      case "replace":
        return `${displayTokens(tokens, after)}: ${renderValue(walk(before, tokens))} → ${renderValue(op.value)}`;
      default:
        return `${op.op} ${displayTokens(tokens, after)}`;
    }
  });
}

function textChange(path: string, old: string, value: string): string[] {
  const [counts, ...lines] = describeLineDiff(lineDiff(old, value));
  return [`${path}: text changed, ${counts}`, ...lines];
}

/** JSON pointer → `spec.rules[0].matches[1].path.value`, quoting keys that need it. */
export function displayPath(pointer: string, doc: JsonValue): string {
  return displayTokens(parsePointer(pointer), doc);
}

const IDENTIFIER = /^[A-Za-z_$][\w$-]*$/;
const INDEX = /^\d+$/;

function displayTokens(tokens: string[], doc: JsonValue): string {
  if (tokens.length === 0) return "(root)";
  let out = "";
  let node: JsonValue | undefined = doc;
  for (const key of tokens) {
    if (Array.isArray(node) || (node === undefined && INDEX.test(key))) out += `[${key}]`;
    else if (IDENTIFIER.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(key)}]`;
    node = childOf(node, key);
  }
  return out;
}

function walk(doc: JsonValue, tokens: string[]): JsonValue | undefined {
  let node: JsonValue | undefined = doc;
  for (const token of tokens) node = childOf(node, token);
  return node;
}

export function renderValue(value: unknown): string {
  if (value === undefined) return ABSENT;
  // An added `spec` is kilobytes of JSON of which 79 characters are shown: stop there.
  const text = boundedJson(value as JsonValue, MAX_VALUE_CHARS + 1);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

/**
 * JSON.stringify(value), or a prefix of it at least `limit` characters long: the same
 * characters, serialized only as far as they are needed.
 */
function boundedJson(value: JsonValue, limit: number): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const parts: string[] = [];
  let length = 0;
  const put = (text: string): boolean => {
    parts.push(text);
    length += text.length;
    return length < limit;
  };
  const write = (node: JsonValue | undefined, inArray: boolean): boolean => {
    if (node === undefined) return inArray ? put("null") : true;
    if (node === null || typeof node !== "object") return put(JSON.stringify(node));
    if (Array.isArray(node)) {
      if (!put("[")) return false;
      for (let i = 0; i < node.length; i++) {
        if (i > 0 && !put(",")) return false;
        if (!write(node[i], true)) return false;
      }
      return put("]");
    }
    if (!put("{")) return false;
    let first = true;
    for (const key of Object.keys(node)) {
      if (node[key] === undefined) continue;
      if (!put(`${first ? "" : ","}${JSON.stringify(key)}:`)) return false;
      first = false;
      if (!write(node[key], false)) return false;
    }
    return put("}");
  };
  write(value, false);
  return parts.join("");
}
