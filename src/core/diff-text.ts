import type { PatchOp } from "../model/change.js";
import type { JsonValue } from "../model/json.js";
import { diffAt, type OldValues, type PathNode, pointer } from "./diff.js";

/** A patch with the value each operation replaces or removes (undefined for an add). */
export interface PatchWithOlds {
  patch: PatchOp[];
  olds: OldValues;
}

/**
 * `diff(JSON.parse(beforeJson), after)`, op for op, without parsing `before` (decision 0038).
 * Ingest holds the previous revision as JSON text and the new one as an object and its JSON
 * text; an edit touches a few fields, so most subtrees serialize to the same characters on
 * both sides. The walk goes through both texts in step (each bracket's match found in one
 * pass), skips a subtree whose texts are equal, and parses only the old values the patch
 * replaces or removes. Where the text is not what `JSON.stringify` writes (whitespace), or an
 * old object has keys JavaScript orders differently from the text (array-index keys,
 * `__proto__`), that subtree is parsed and diffed as objects: the result is the same.
 *
 * Preconditions: `afterJson === JSON.stringify(after)` and `after` holds only JSON values
 * (what `JSON.parse` gives, canonicalized and masked); `beforeJson` is JSON text.
 */
export function diffJsonText(
  beforeJson: string,
  after: JsonValue,
  afterJson: string,
): PatchWithOlds {
  const patch: PatchOp[] = [];
  const olds: OldValues = [];
  const old = scan(beforeJson, 0);
  const now = scan(afterJson, 1);
  if (old === null || now === null) {
    diffAt(JSON.parse(beforeJson) as JsonValue, after, null, patch, olds);
  } else {
    compareSpans(old, 0, old.text.length, now, 0, now.text.length, after, null, patch, olds);
  }
  return { patch, olds };
}

/** A JSON text with the index of the matching bracket for every `{` and `[` in it. */
interface Scanned {
  text: string;
  close: Int32Array;
}

/**
 * Two bracket tables, reused from call to call (one per side): ingest diffs objects of the
 * same few KiB over and over, and a fresh zero-filled table per text was a third of the cost.
 */
const tables: Int32Array[] = [new Int32Array(4096), new Int32Array(4096)];
const open: number[] = [];
const KEPT_TABLE_CHARS = 256 * 1024;

/** Null when the text has whitespace or unbalanced brackets outside strings. */
function scan(text: string, side: 0 | 1): Scanned | null {
  let close = tables[side] as Int32Array;
  if (close.length < text.length) {
    close = new Int32Array(Math.max(text.length, close.length * 2));
    // A big document gets a table of its own, not kept: memory stays flat.
    if (text.length <= KEPT_TABLE_CHARS) tables[side] = close;
  }
  open.length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      if (i < 0) return null;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      open.push(i);
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      const start = open.pop();
      if (start === undefined) return null;
      close[start] = i;
    } else if (c <= SPACE) {
      return null;
    }
  }
  return open.length === 0 ? { text, close } : null;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const SPACE = 32;

/** The index of the quote that closes the string opening at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let at = start;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return -1;
    let slashes = 0;
    while (text.charCodeAt(at - 1 - slashes) === BACKSLASH) slashes++;
    if ((slashes & 1) === 0) return at;
  }
}

/** The index just past the value starting at `start`. */
function valueEnd(s: Scanned, start: number): number {
  const c = s.text.charCodeAt(start);
  if (c === QUOTE) return stringEnd(s.text, start) + 1;
  if (c === OPEN_BRACE || c === OPEN_BRACKET) return (s.close[start] as number) + 1;
  let at = start + 1;
  for (; at < s.text.length; at++) {
    const d = s.text.charCodeAt(at);
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET) break;
  }
  return at;
}

/** Value spans of a container's members: [start0, end0, start1, end1, …]. */
function elements(s: Scanned, open: number): number[] {
  const spans: number[] = [];
  const last = s.close[open] as number;
  let at = open + 1;
  while (at < last) {
    const end = valueEnd(s, at);
    spans.push(at, end);
    at = end + 1;
  }
  return spans;
}

/**
 * An object's members: keys in text order and their value spans; null when the text's order
 * is not `Object.keys`' order of the parsed object (see isOrderedFirst, repeated keys).
 */
function members(s: Scanned, open: number): { keys: string[]; spans: number[] } | null {
  const keys: string[] = [];
  const spans: number[] = [];
  const last = s.close[open] as number;
  let at = open + 1;
  while (at < last) {
    const keyEnd = stringEnd(s.text, at);
    if (keyEnd < 0 || s.text.charCodeAt(keyEnd + 1) !== COLON) return null;
    const raw = s.text.slice(at + 1, keyEnd);
    const key = raw.includes("\\") ? (JSON.parse(s.text.slice(at, keyEnd + 1)) as string) : raw;
    if (isOrderedFirst(key) || (keys.length < 16 && keys.includes(key))) return null;
    const start = keyEnd + 2;
    const end = valueEnd(s, start);
    keys.push(key);
    spans.push(start, end);
    at = end + 1;
  }
  // A repeated key: JSON.parse keeps the last value at the first one's place.
  if (keys.length > 16 && new Set(keys).size !== keys.length) return null;
  return { keys, spans };
}

/**
 * Keys `Object.keys` does not list in insertion order (array indexes come first), and
 * `__proto__`, which `JSON.parse` makes an own key: the text's order would mislead.
 */
function isOrderedFirst(key: string): boolean {
  const c = key.charCodeAt(0);
  return (c >= 48 && c <= 57) || key === "__proto__";
}

function compareSpans(
  old: Scanned,
  oldStart: number,
  oldEnd: number,
  now: Scanned,
  nowStart: number,
  nowEnd: number,
  value: JsonValue,
  at: PathNode | null,
  out: PatchOp[],
  olds: OldValues,
): void {
  if (
    oldEnd - oldStart === nowEnd - nowStart &&
    old.text.slice(oldStart, oldEnd) === now.text.slice(nowStart, nowEnd)
  ) {
    return;
  }
  const a = old.text.charCodeAt(oldStart);
  const b = now.text.charCodeAt(nowStart);
  if (a === OPEN_BRACE && b === OPEN_BRACE) {
    walkObject(old, oldStart, now, nowStart, value as { [key: string]: JsonValue }, at, out, olds);
  } else if (a === OPEN_BRACKET && b === OPEN_BRACKET) {
    walkArray(old, oldStart, now, nowStart, value as JsonValue[], at, out, olds);
  } else {
    diffAt(JSON.parse(old.text.slice(oldStart, oldEnd)) as JsonValue, value, at, out, olds);
  }
}

/** As diff.ts's walkArray: old elements last to first, then appended ones. */
function walkArray(
  old: Scanned,
  oldOpen: number,
  now: Scanned,
  nowOpen: number,
  value: JsonValue[],
  at: PathNode | null,
  out: PatchOp[],
  olds: OldValues,
): void {
  const was = elements(old, oldOpen);
  const is = elements(now, nowOpen);
  const oldCount = was.length / 2;
  for (let i = oldCount - 1; i >= 0; i--) {
    const start = was[2 * i] as number;
    const end = was[2 * i + 1] as number;
    if (i >= value.length) {
      out.push({ op: "remove", path: pointer(at, i) });
      olds.push(JSON.parse(old.text.slice(start, end)) as JsonValue);
      continue;
    }
    const child = { parent: at, token: i };
    compareSpans(
      old,
      start,
      end,
      now,
      is[2 * i] as number,
      is[2 * i + 1] as number,
      value[i] as JsonValue,
      child,
      out,
      olds,
    );
  }
  for (let i = oldCount; i < value.length; i++) {
    if (value[i] === undefined) continue;
    out.push({ op: "add", path: pointer(at, i), value: value[i] as JsonValue });
    olds.push(undefined);
  }
}

/** As diff.ts's walkObject: old keys last to first (replace, remove), then new keys (add). */
function walkObject(
  old: Scanned,
  oldOpen: number,
  now: Scanned,
  nowOpen: number,
  value: { [key: string]: JsonValue },
  at: PathNode | null,
  out: PatchOp[],
  olds: OldValues,
): void {
  const was = members(old, oldOpen);
  const is = members(now, nowOpen);
  if (was === null || is === null) {
    const oldObject = JSON.parse(old.text.slice(oldOpen, (old.close[oldOpen] as number) + 1));
    diffAt(oldObject as JsonValue, value, at, out, olds);
    return;
  }
  const find = keyFinder(is.keys);
  let deleted = false;
  for (let t = was.keys.length - 1; t >= 0; t--) {
    const key = was.keys[t] as string;
    const start = was.spans[2 * t] as number;
    const end = was.spans[2 * t + 1] as number;
    const k = find(key);
    if (k < 0) {
      out.push({ op: "remove", path: pointer(at, key) });
      olds.push(JSON.parse(old.text.slice(start, end)) as JsonValue);
      deleted = true;
      continue;
    }
    const child = { parent: at, token: key };
    compareSpans(
      old,
      start,
      end,
      now,
      is.spans[2 * k] as number,
      is.spans[2 * k + 1] as number,
      value[key] as JsonValue,
      child,
      out,
      olds,
    );
  }
  if (!deleted && is.keys.length === was.keys.length) return;
  const findOld = keyFinder(was.keys);
  for (const key of is.keys) {
    if (findOld(key) < 0) {
      out.push({ op: "add", path: pointer(at, key), value: value[key] as JsonValue });
      olds.push(undefined);
    }
  }
}

/** Index of a key in a list: a scan for the few keys most objects have, a map beyond. */
function keyFinder(keys: string[]): (key: string) => number {
  if (keys.length <= 16) return (key) => keys.indexOf(key);
  const index = new Map<string, number>();
  for (let i = 0; i < keys.length; i++)
    if (!index.has(keys[i] as string)) index.set(keys[i] as string, i);
  return (key) => index.get(key) ?? -1;
}
