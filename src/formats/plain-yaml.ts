import { Schema } from "yaml";
import type { JsonObject, JsonValue } from "../model/json.js";

/** A document the plain reader took: its index (empty documents count) and first line. */
export interface PlainDocument {
  index: number;
  line: number;
  value: JsonObject;
}

/** Plain scalars that YAML 1.1 and 1.2 read the same: true/false and null spellings. */
export const SAME_IN_BOTH = /^(?:true|True|TRUE|false|False|FALSE|~|null|Null|NULL|)$/;
export const DECIMAL = /^[-+]?(?:0|[1-9][0-9]*)$/;

/** The patterns by which each schema gives a plain scalar a type other than string. */
function typePatterns(schema: "yaml-1.1" | "core"): RegExp[] {
  const tags = new Schema({ schema, merge: true }).tags as Array<{ tag: string; test?: RegExp }>;
  return tags.flatMap((t) => (t.test && !t.tag.endsWith(":merge") ? [t.test] : []));
}
export const TYPED = [...typePatterns("yaml-1.1"), ...typePatterns("core")];

/**
 * Whether a plain scalar reads the same in YAML 1.1 and 1.2 (see readsDifferentlyAsYaml11
 * in documents.ts): a true/false/null spelling, a decimal integer within 2^53, or a string
 * to both schemas.
 */
export function plainReadsTheSame(source: string): boolean {
  if (SAME_IN_BOTH.test(source)) return true;
  if (DECIMAL.test(source) && Number.isSafeInteger(Number(source))) return true;
  return !TYPED.some((pattern) => pattern.test(source));
}

/** Thrown (never seen outside) when the text is not one the plain reader takes. */
const NOT_PLAIN: unique symbol = Symbol("not plain");

/**
 * Anywhere in the text, these send it to the full parser: tabs and carriage returns
 * (indentation and line-break rules), `!` (tags; also what makes the YAML 1.1 re-reading
 * run), control characters and the characters YAML treats specially (NEL, LS, PS, BOM,
 * non-characters).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSUPPORTED = /[\0-\x09\x0b-\x1f\x7f-\x9f!\u2028\u2029\ufeff\ufffe\uffff]/;

/** A line holding something (not blank, not only a comment), or a `---` marker (indent -1). */
interface Line {
  no: number;
  indent: number;
  text: string;
}

/**
 * Reads the plain block YAML most manifests are written in (what `kubectl`, `yaml.stringify`
 * and people write: nested `key: value` mappings, `- ` sequences, plain and single-line
 * quoted scalars, comments, `---` between documents) many times faster than the general
 * parser, and gives exactly what parseDocuments' general path gives for such text. Anything
 * else (anchors, aliases, tags, block scalars, flow collections other than `[]`/`{}`,
 * multi-line scalars, a plain scalar YAML 1.1 and 1.2 read differently, a repeated key, a
 * syntax error, a top level that is not a mapping) returns undefined: the caller parses it
 * the general way, which also says what is wrong.
 */
export function readPlainYaml(text: string, maxNodes: number): PlainDocument[] | undefined {
  if (UNSUPPORTED.test(text)) return undefined;
  const lines = contentLines(text);
  if (!lines) return undefined;
  try {
    return documentsOf(lines, maxNodes);
  } catch (err) {
    if (err === NOT_PLAIN) return undefined;
    throw err;
  }
}

/** The lines that hold something; undefined for a directive, `...` or content after `---`. */
function contentLines(text: string): Line[] | undefined {
  const lines: Line[] = [];
  let start = 0;
  for (let no = 1; start <= text.length; no++) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    let indent = start;
    while (indent < end && text.charCodeAt(indent) === 0x20) indent++;
    if (indent < end && text.charCodeAt(indent) !== 0x23) {
      const content = trimSpaces(text.slice(indent, end), false);
      if (indent === start) {
        const first = content.charCodeAt(0);
        if (content.startsWith("---")) {
          if (!/^---(?: +#.*)?$/.test(content)) return undefined;
          lines.push({ no, indent: -1, text: "" });
          start = end + 1;
          continue;
        }
        if (first === 0x25 /* % */ || content.startsWith("...")) return undefined;
      }
      lines.push({ no, indent: indent - start, text: content });
    }
    start = end + 1;
  }
  return lines;
}

/**
 * The documents between `---` markers. Content before the first marker is document 0;
 * otherwise the first marker starts it. Empty documents count but give nothing.
 */
function documentsOf(lines: Line[], maxNodes: number): PlainDocument[] {
  const documents: PlainDocument[] = [];
  let index = 0;
  let at = 0;
  let started = false;
  while (at <= lines.length) {
    let end = at;
    while (end < lines.length && lines[end]!.indent !== -1) end++;
    if (end > at) {
      const first = lines[at]!;
      const reader = new PlainReader(lines, at, end, maxNodes);
      documents.push({ index, line: first.no, value: reader.document() });
      started = true;
    }
    if (end === lines.length) break;
    if (started || end > at) index++;
    started = true;
    at = end + 1;
  }
  return documents;
}

/** One document's lines, read by indentation. */
class PlainReader {
  private nodes = 0;
  private depth = 0;

  constructor(
    private readonly lines: Line[],
    private at: number,
    private readonly end: number,
    private readonly maxNodes: number,
  ) {}

  document(): JsonObject {
    const first = this.lines[this.at]!;
    if (first.indent !== 0 || isSequenceItem(first.text)) throw NOT_PLAIN;
    const value = this.mapping(0);
    if (this.at !== this.end) throw NOT_PLAIN;
    return value;
  }

  private peek(): Line | undefined {
    return this.at < this.end ? this.lines[this.at] : undefined;
  }

  /** Counts nodes as the alias-bomb check does; the general path says when there are too many. */
  private count(n: number): void {
    this.nodes += n;
    if (this.nodes > this.maxNodes) throw NOT_PLAIN;
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw NOT_PLAIN;
  }

  private mapping(indent: number): JsonObject {
    this.enter();
    this.count(1);
    const out: JsonObject = {};
    for (;;) {
      const line = this.peek();
      if (!line || line.indent < indent) break;
      if (line.indent > indent) throw NOT_PLAIN;
      const entry = splitEntry(line.text);
      if (!entry) break; // a sequence item beside a key's value, or not a mapping: see callers
      this.at++;
      this.count(1);
      const { key, rest } = entry;
      if (key === "__proto__" || Object.hasOwn(out, key)) throw NOT_PLAIN;
      out[key] = rest === "" ? this.nested(indent, true) : this.inline(rest, indent);
    }
    this.depth--;
    return out;
  }

  private sequence(indent: number): JsonValue[] {
    this.enter();
    this.count(1);
    const out: JsonValue[] = [];
    for (;;) {
      const line = this.peek();
      if (!line || line.indent !== indent || !isSequenceItem(line.text)) break;
      const text = line.text;
      let k = 1;
      while (text.charCodeAt(k) === 0x20) k++;
      const content = text.slice(k);
      if (content === "" || content.charCodeAt(0) === 0x23) {
        this.at++;
        out.push(this.nested(indent, false));
      } else if (isSequenceItem(content)) {
        throw NOT_PLAIN;
      } else if (splitEntry(content)) {
        // `- key: value`: a mapping whose keys sit where this one does.
        this.lines[this.at] = { no: line.no, indent: indent + k, text: content };
        out.push(this.mapping(indent + k));
      } else {
        this.at++;
        out.push(this.inline(content, indent));
      }
    }
    this.depth--;
    return out;
  }

  /** The value after `key:` or `-` with nothing on the line: a block below, or null. */
  private nested(indent: number, sequenceBeside: boolean): JsonValue {
    const next = this.peek();
    if (next && next.indent > indent) {
      return isSequenceItem(next.text) ? this.sequence(next.indent) : this.mapping(next.indent);
    }
    if (sequenceBeside && next?.indent === indent && isSequenceItem(next.text)) {
      return this.sequence(indent);
    }
    this.count(1);
    return null;
  }

  /** A scalar (or `[]`, `{}`) on the rest of a line; nothing more indented may follow it. */
  private inline(text: string, indent: number): JsonValue {
    this.count(1);
    const next = this.peek();
    if (next && next.indent > indent) throw NOT_PLAIN;
    return inlineValue(text);
  }
}

/** Far below where the general parser runs out of stack. */
const MAX_DEPTH = 200;

function isSequenceItem(text: string): boolean {
  return text.charCodeAt(0) === 0x2d && (text.length === 1 || text.charCodeAt(1) === 0x20);
}

/**
 * `key: rest` (rest without a trailing comment, maybe empty), or undefined when the text is
 * not a mapping entry the plain reader takes.
 */
function splitEntry(text: string): { key: string; rest: string } | undefined {
  const first = text.charCodeAt(0);
  let key: string;
  let after: number;
  if (first === 0x22 || first === 0x27) {
    const quoted = first === 0x22 ? doubleQuoted(text) : singleQuoted(text);
    if (!quoted) return undefined;
    key = quoted.value;
    after = quoted.end;
    if (text.charCodeAt(after) !== 0x3a) return undefined;
  } else {
    after = entryColon(text);
    if (after === -1) return undefined;
    key = text.slice(0, after);
    if (!isPlainKey(key)) throw NOT_PLAIN;
  }
  if (after + 1 < text.length && text.charCodeAt(after + 1) !== 0x20) return undefined;
  const rest = trimSpaces(text.slice(after + 1), true);
  return { key, rest: rest.charCodeAt(0) === 0x23 ? "" : rest };
}

/** Where the `:` of `key: …` is: the first one followed by a space or the end of the line. */
function entryColon(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a && (i + 1 === text.length || text.charCodeAt(i + 1) === 0x20)) return i;
    if (c === 0x23 && i > 0 && text.charCodeAt(i - 1) === 0x20) return -1; // a comment
  }
  return -1;
}

/** A key the plain reader takes: a plain scalar that is a string to both schemas. */
function isPlainKey(key: string): boolean {
  if (key.length === 0 || key.length > 1000 || key.endsWith(" ")) return false;
  if (INDICATOR.includes(key.charAt(0)) || /[[\]{},#]/.test(key)) return false;
  return typeof plainScalar(key) === "string";
}

/** Characters that may not start a plain scalar here (YAML's c-indicators). */
const INDICATOR = "-?:,[]{}#&*!|>'\"%@`";

function inlineValue(text: string): JsonValue {
  const first = text.charAt(0);
  if (first === '"' || first === "'") {
    const quoted = first === '"' ? doubleQuoted(text) : singleQuoted(text);
    if (!quoted || !onlyComment(text, quoted.end)) throw NOT_PLAIN;
    return quoted.value;
  }
  if (first === "[" || first === "{") {
    if (text.charAt(1) !== (first === "[" ? "]" : "}") || !onlyComment(text, 2)) throw NOT_PLAIN;
    return first === "[" ? [] : {};
  }
  if (first === "-") {
    if (text.length === 1 || text.charAt(1) === " ") throw NOT_PLAIN;
  } else if (INDICATOR.includes(first)) throw NOT_PLAIN;
  let end = text.length;
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x23 && text.charCodeAt(i - 1) === 0x20) {
      end = i;
      break;
    }
    if (c === 0x3a && (i + 1 === text.length || text.charCodeAt(i + 1) === 0x20)) throw NOT_PLAIN;
  }
  const value = plainScalar(trimSpaces(text.slice(0, end), false));
  if (value === NOT_PLAIN) throw NOT_PLAIN;
  return value;
}

/** Nothing but spaces and maybe a comment from `at` on. */
function onlyComment(text: string, at: number): boolean {
  if (at === text.length) return true;
  if (text.charCodeAt(at) !== 0x20) return false;
  const rest = trimSpaces(text.slice(at), true);
  return rest === "" || rest.charCodeAt(0) === 0x23;
}

/**
 * Without the spaces at the start or the end. Only U+0020: YAML's white space is space and
 * tab (tabs never get here), and `trim` would also take NBSP and the other Unicode spaces,
 * which YAML keeps as content.
 */
function trimSpaces(text: string, start: boolean): string {
  if (start) {
    let i = 0;
    while (text.charCodeAt(i) === 0x20) i++;
    return i === 0 ? text : text.slice(i);
  }
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x20) end--;
  return end === text.length ? text : text.slice(0, end);
}

const scalars = new Map<string, JsonValue | typeof NOT_PLAIN>();
const MAX_CACHED_SCALARS = 10_000;

/**
 * What the YAML 1.2 core schema makes of a plain scalar that YAML 1.1 reads the same
 * (plainReadsTheSame), or NOT_PLAIN. Remembered: keys and many values repeat.
 */
function plainScalar(source: string): JsonValue | typeof NOT_PLAIN {
  const known = scalars.get(source);
  if (known !== undefined) return known;
  let value: JsonValue | typeof NOT_PLAIN;
  if (source === "<<") value = NOT_PLAIN;
  else if (SAME_IN_BOTH.test(source)) value = coreConstant(source);
  else if (DECIMAL.test(source) && Number.isSafeInteger(Number(source))) {
    value = Number.parseInt(source, 10);
  } else value = TYPED.some((pattern) => pattern.test(source)) ? NOT_PLAIN : source;
  if (scalars.size >= MAX_CACHED_SCALARS) scalars.clear();
  scalars.set(source, value);
  return value;
}

function coreConstant(source: string): boolean | null {
  const c = source.charAt(0);
  if (c === "t" || c === "T") return true;
  if (c === "f" || c === "F") return false;
  return null;
}

/** `'…'` on one line (`''` is a quote); undefined when it does not close there. */
function singleQuoted(text: string): { value: string; end: number } | undefined {
  let value = "";
  let from = 1;
  for (;;) {
    const q = text.indexOf("'", from);
    if (q === -1) return undefined;
    value += text.slice(from, q);
    if (text.charCodeAt(q + 1) !== 0x27) return { value, end: q + 1 };
    value += "'";
    from = q + 2;
  }
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  n: "\n",
  t: "\t",
  r: "\r",
  "0": "\0",
  b: "\b",
  f: "\f",
};

/** `"…"` on one line with the common escapes; undefined for anything else. */
function doubleQuoted(text: string): { value: string; end: number } | undefined {
  let value = "";
  let from = 1;
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return { value: value + text.slice(from, i), end: i + 1 };
    if (c !== 0x5c) continue;
    value += text.slice(from, i);
    const e = text.charAt(i + 1);
    const simple = ESCAPES[e];
    if (simple !== undefined) {
      value += simple;
      i++;
    } else if (e === "x" || e === "u") {
      const digits = e === "x" ? 2 : 4;
      const hex = text.slice(i + 2, i + 2 + digits);
      if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) return undefined;
      const code = Number.parseInt(hex, 16);
      if (code >= 0xd800 && code <= 0xdfff) return undefined;
      value += String.fromCharCode(code);
      i += 1 + digits;
    } else return undefined;
    from = i + 1;
  }
  return undefined;
}
