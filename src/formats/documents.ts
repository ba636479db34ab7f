import {
  Composer,
  type CST,
  type Document,
  type DocumentOptions,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  LineCounter,
  type Node,
  Parser,
  type SchemaOptions,
  YAMLParseError,
  type ParseOptions as YamlParseOptions,
} from "yaml";
import { sha256Hex } from "../core/stable-json.js";
import type { ErrorCode } from "../model/errors.js";
import type { JsonObject, JsonValue } from "../model/json.js";
import type { Location, SourceProblem } from "../model/observation.js";
import { detectFormat } from "./detect.js";
import { plainReadsTheSame, readPlainYaml } from "./plain-yaml.js";

/** One non-empty document of a YAML or JSON file. */
export interface ParsedDocument {
  /** Position of the document in the file, counting empty documents too, so indexes stay stable. */
  index: number;
  /** 1-based line of the document's first node. */
  line: number;
  value: JsonValue;
  /** 1-based line of the node at a path inside the document (decK / LiteLLM entities), if any. */
  lineOf?: (path: (string | number)[]) => number | undefined;
}

export interface ParseOptions {
  maxBytes: number;
  /**
   * How many nodes a document may hold once its aliases and merge keys are expanded; a
   * document over it is refused as a possible alias bomb. Default 1,000,000: a decK file whose
   * 100 services each merge `<<: *defaults` is fine, a billion laughs is not.
   */
  maxExpandedNodes?: number;
  /**
   * The file is JSON (by its name): read with JSON.parse, many times faster than the YAML
   * parser, whenever that gives what the YAML reading gives (see parseJson); otherwise, and
   * for every error message, the YAML parser reads it as before.
   */
  json?: boolean;
  /** false: always the general parser, never the plain reader (tests compare the two). */
  plain?: boolean;
}

export interface ParseResult {
  documents: ParsedDocument[];
  problems: SourceProblem[];
}

export const DEFAULT_MAX_EXPANDED_NODES = 1_000_000;
const BINARY_SNIFF_BYTES = 8 * 1024;
/** Messages come from the parser; a cap keeps a pathological one out of the log. */
const MAX_MESSAGE_CHARS = 300;

/**
 * Parses a YAML or JSON file (JSON is read as YAML 1.2, of which it is a subset) into its
 * documents. Any problem means no documents at all: a half-read file must not make the
 * objects it holds look deleted.
 */
export function parseDocuments(bytes: Buffer, path: string, options: ParseOptions): ParseResult {
  const problem = checkBytes(bytes, path, options.maxBytes);
  if (problem) return { documents: [], problems: [problem] };
  let text = bytes.toString("utf8");
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const fast = options.json ? parseJson(text) : undefined;
  if (fast) return fast;
  const maxExpandedNodes = options.maxExpandedNodes ?? DEFAULT_MAX_EXPANDED_NODES;
  const plain =
    options.plain === false ? undefined : parsePlain(text, bytes, path, maxExpandedNodes);
  return plain ?? parseText(text, bytes, path, maxExpandedNodes);
}

/**
 * The plain reader (plain-yaml.ts) where it takes the text: what parseText gives, at a
 * fraction of the cost. Not for a decK or LiteLLM document (their entities' lines come from
 * YAML nodes). The node count is checked at half the limit, so the two ways of counting
 * need not agree to the node. A document's lineOf parses the text the general way, once,
 * when first asked (only `crwatch lint` asks, for documents without such lines).
 */
function parsePlain(
  text: string,
  bytes: Buffer,
  path: string,
  maxExpandedNodes: number,
): ParseResult | undefined {
  const plain = readPlainYaml(text, Math.floor(maxExpandedNodes / 2));
  if (!plain || plain.some((doc) => detectFormat(doc.value) !== undefined)) return undefined;
  let general: ParseResult | undefined;
  const documents = plain.map((doc) => {
    const lineOf = (at: (string | number)[]) => {
      general ??= parseText(text, bytes, path, maxExpandedNodes);
      return general.documents.find((d) => d.index === doc.index)?.lineOf?.(at);
    };
    // Not enumerable, as in parseText.
    return Object.defineProperty(doc, "lineOf", { value: lineOf }) as ParsedDocument;
  });
  return { documents, problems: [] };
}

/** A CRW_FILE_TOO_LARGE problem; the file reader also uses it when it refuses to read at all. */
export function fileTooLarge(
  path: string,
  size: number,
  maxBytes: number,
  fingerprint: string,
): SourceProblem {
  return {
    code: "CRW_FILE_TOO_LARGE",
    message: `file is ${size} bytes, over the cap of ${maxBytes} bytes (maxFileBytes); not read`,
    location: { path },
    fingerprint,
  };
}

function checkBytes(bytes: Buffer, path: string, maxBytes: number): SourceProblem | undefined {
  const fingerprint = (code: ErrorCode) => `${sha256Hex(bytes)}:${code}`;
  if (bytes.length > maxBytes) {
    return fileTooLarge(path, bytes.length, maxBytes, fingerprint("CRW_FILE_TOO_LARGE"));
  }
  const utf16 = utf16Kind(bytes);
  if (utf16) {
    return {
      code: "CRW_NOT_UTF8",
      message: `the file is UTF-16 (${utf16}); save it as UTF-8 to have it read`,
      location: { path, line: 1 },
      fingerprint: fingerprint("CRW_NOT_UTF8"),
    };
  }
  const nul = bytes.subarray(0, BINARY_SNIFF_BYTES).indexOf(0);
  if (nul !== -1) {
    return {
      code: "CRW_BINARY_FILE",
      message: `NUL byte at byte offset ${nul} (line ${lineOfOffset(bytes, nul)}): the file looks binary; not read`,
      location: locationOfOffset(bytes, nul, path),
      fingerprint: fingerprint("CRW_BINARY_FILE"),
    };
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad === undefined) return undefined;
  const byte = bytes[bad]!.toString(16).toUpperCase().padStart(2, "0");
  return {
    code: "CRW_NOT_UTF8",
    message: `invalid UTF-8 at byte offset ${bad} (line ${lineOfOffset(bytes, bad)}, byte 0x${byte}); not read`,
    location: locationOfOffset(bytes, bad, path),
    fingerprint: fingerprint("CRW_NOT_UTF8"),
  };
}

/**
 * UTF-16 text (Windows editors, PowerShell's `>`) is not binary: it has a byte-order mark,
 * or a NUL beside every ASCII character.
 */
function utf16Kind(bytes: Uint8Array): string | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return "little-endian, with a byte-order mark";
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return "big-endian, with a byte-order mark";
  const sample = bytes.subarray(0, Math.min(bytes.length, 512) & ~1);
  if (sample.length < 4) return undefined;
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < sample.length; i += 2) {
    if (sample[i] === 0) evenNul++;
    if (sample[i + 1] === 0) oddNul++;
  }
  const pairs = sample.length / 2;
  if (oddNul > pairs * 0.9 && evenNul === 0) return "little-endian";
  if (evenNul > pairs * 0.9 && oddNul === 0) return "big-endian";
  return undefined;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Offset of the first byte that starts an invalid UTF-8 sequence, or undefined if all is valid. */
export function firstInvalidUtf8(bytes: Uint8Array): number | undefined {
  try {
    strictUtf8.decode(bytes);
    return undefined;
  } catch {
    // The decoder says that, not where: walk the sequences to find the first bad one.
  }
  let i = 0;
  while (i < bytes.length) {
    const length = utf8SequenceLength(bytes, i);
    if (length === 0) return i;
    i += length;
  }
  return bytes.length;
}

/** Length of the well-formed UTF-8 sequence at `i` (WHATWG / RFC 3629 rules), 0 if ill-formed. */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  let length: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) length = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    if (b0 === 0xe0) lo = 0xa0; // overlong
    if (b0 === 0xed) hi = 0x9f; // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    if (b0 === 0xf0) lo = 0x90; // overlong
    if (b0 === 0xf4) hi = 0x8f; // above U+10FFFF
  } else return 0;
  for (let k = 1; k < length; k++) {
    const b = bytes[i + k];
    if (b === undefined || b < (k === 1 ? lo : 0x80) || b > (k === 1 ? hi : 0xbf)) return 0;
  }
  return length;
}

function lineOfOffset(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** Line and (byte) column of a byte offset; the text cannot be decoded, so columns count bytes. */
function locationOfOffset(bytes: Uint8Array, offset: number, path: string): Location {
  const lineStart = bytes.subarray(0, offset).lastIndexOf(0x0a) + 1;
  return { path, line: lineOfOffset(bytes, offset), column: offset - lineStart + 1 };
}

/**
 * JSON.parse where its answer is the YAML parser's: not for text with a number the two read
 * differently (an exponent, which YAML 1.1 keeps as a string; digits beyond 2^53, which the
 * YAML 1.1 reading keeps exact), a repeated key (an error in YAML, the last one wins in
 * JSON.parse), a decK or LiteLLM file (its entities' lines come from the YAML nodes), or
 * text that does not parse (the YAML parser says where). Undefined means: read it as YAML.
 */
function parseJson(text: string): ParseResult | undefined {
  if (/\d[eE]|\d{16}/.test(text)) return undefined;
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
  if (value === null) return { documents: [], problems: [] };
  if (detectFormat(value) !== undefined || countKeys(value) !== countKeysInText(text)) {
    return undefined;
  }
  const start = text.search(/\S/);
  const line = text.slice(0, start).split("\n").length;
  return { documents: [{ index: 0, line, value }], problems: [] };
}

function countKeys(value: JsonValue): number {
  if (Array.isArray(value)) return value.reduce<number>((n, item) => n + countKeys(item), 0);
  if (value === null || typeof value !== "object") return 0;
  let n = 0;
  for (const key of Object.keys(value)) n += 1 + countKeys(value[key]!);
  return n;
}

/** Strings followed by a colon in text that JSON.parse accepted: its object keys, repeats included. */
function countKeysInText(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== 0x22) continue;
    for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
      if (text.charCodeAt(i) === 0x5c) i++;
    }
    let j = i + 1;
    while (j < text.length && /\s/.test(text.charAt(j))) j++;
    if (text.charCodeAt(j) === 0x3a) n++;
  }
  return n;
}

function parseText(
  text: string,
  bytes: Buffer,
  path: string,
  maxExpandedNodes: number,
): ParseResult {
  const problem = (code: ErrorCode, message: string, line?: number, column?: number) => ({
    documents: [],
    problems: [
      {
        code,
        message: clip(message),
        location: {
          path,
          ...(line !== undefined && { line }),
          ...(column !== undefined && { column }),
        },
        fingerprint: `${sha256Hex(bytes)}:${code}`,
      },
    ],
  });
  const lineCounter = new LineCounter();
  let tokens: CST.Token[];
  let parsed: Document.Parsed[];
  try {
    // Lexed once: the YAML 1.1 reading below composes the same tokens again (lexing and
    // parsing are two thirds of the time, and do not depend on the YAML version).
    tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
    // Merge keys (`<<`) on: Kubernetes, decK (go-yaml) and LiteLLM (PyYAML) all honour them.
    parsed = composeAll(tokens, { merge: true });
  } catch (err) {
    if (err instanceof RangeError) return problem("CRW_YAML_SYNTAX", TOO_DEEP);
    return problem("CRW_YAML_SYNTAX", `the file could not be parsed: ${firstLine(err)}`);
  }
  const errors = parsed.flatMap((doc) => doc.errors);
  const first = errors[0];
  if (first) {
    const at = lineCounter.linePos(first.pos[0]);
    if (/Maximum call stack/i.test(first.message)) {
      return problem("CRW_YAML_SYNTAX", TOO_DEEP, at.line, at.col);
    }
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : "";
    // As parseAllDocuments words it (its prettifyError, minus the quoted source line).
    const where = first.pos[0] === -1 ? "" : ` at line ${at.line}, column ${at.col}`;
    return problem(
      "CRW_YAML_SYNTAX",
      `${firstLine(`${first.message}${where}`)}${more}`,
      at.line,
      at.col,
    );
  }
  const documents: ParsedDocument[] = [];
  for (const [index, doc] of parsed.entries()) {
    const line = lineCounter.linePos(doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0).line;
    let value: JsonValue;
    try {
      const size = expandedSize(doc, maxExpandedNodes);
      if (size > maxExpandedNodes) {
        const message = `document ${index} expands its YAML aliases to more than ${maxExpandedNodes} nodes (maxExpandedNodes; possible alias bomb); not read`;
        return problem("CRW_YAML_ALIAS_LIMIT", message, line);
      }
      value = toJsonValue(doc.toJS({ maxAliasCount: -1 }));
    } catch (err) {
      if (err instanceof RangeError) return problem("CRW_YAML_SYNTAX", TOO_DEEP, line);
      return problem("CRW_YAML_SYNTAX", `document ${index}: ${firstLine(err)}`, line);
    }
    if (value === null) continue;
    const lineOf = (path: (string | number)[]) => {
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      return node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
    };
    // Not enumerable: a helper, not data (documents compare and serialize as before).
    documents.push(Object.defineProperty({ index, line, value }, "lineOf", { value: lineOf }));
  }
  if (documents.some(readsAsYaml11) && readsDifferentlyAsYaml11(text, parsed)) {
    return yaml11Result(asYaml11(tokens, documents), path, bytes);
  }
  return { documents, problems: [] };
}

/**
 * Whether the YAML 1.1 reading (asYaml11) could differ from the 1.2 one, so it is worth its
 * time (a second compose, a fifth of a manifest's parse). It cannot when every plain scalar
 * is a string to both schemas (`10s`, `v1`, a name: no type pattern of either matches), a
 * true/false/null spelling, or a plain decimal integer within 2^53; and no explicit tag (`!`)
 * appears anywhere.
 */
function readsDifferentlyAsYaml11(text: string, docs: Document.Parsed[]): boolean {
  if (text.includes("!")) return true;
  const same = (node: unknown) =>
    !isScalar(node) || node.type !== "PLAIN" || plainReadsTheSame(String(node.source ?? ""));
  return !docs.every((doc) => eachNode(doc.contents, same));
}

/**
 * What `parseAllDocuments` does after lexing: the documents of a token stream. The library
 * checks each mapping key against every key before it, which made a 45,000-key ConfigMap
 * take most of a minute; here keys are checked by a set per mapping instead. A file that does
 * repeat a key is composed again the library's way (exact error positions), unless it is so
 * big that this would be slow: then the error is placed at the repeated key itself.
 */
function composeAll(
  tokens: CST.Token[],
  options: YamlParseOptions & DocumentOptions & SchemaOptions,
): Document.Parsed[] {
  const docs = [...new Composer({ ...options, uniqueKeys: false }).compose(tokens)];
  let keys = 0;
  const repeats = docs.map((doc) => {
    const found = repeatedKeys(doc);
    keys += found.keys;
    return found.repeated;
  });
  if (repeats.every((r) => r.length === 0)) return docs;
  if (keys <= EXACT_DUPLICATE_CHECK_KEYS) return [...new Composer(options).compose(tokens)];
  for (const [i, doc] of docs.entries()) addErrors(doc, repeats[i]!);
  return docs;
}

/** Up to this many keys in a file with a repeated key, the library finds it (see composeAll). */
const EXACT_DUPLICATE_CHECK_KEYS = 10_000;

/** Keys that repeat an earlier key of their mapping (the library's test: equal scalar values). */
function repeatedKeys(doc: Document.Parsed): { keys: number; repeated: YAMLParseError[] } {
  const repeated: YAMLParseError[] = [];
  let keys = 0;
  eachNode(doc.contents, (node) => {
    if (!isMap(node)) return true;
    const seen = new Set<unknown>();
    keys += node.items.length;
    for (const { key } of node.items) {
      if (!isScalar(key) || Number.isNaN(key.value)) continue;
      if (!seen.has(key.value)) {
        seen.add(key.value);
        continue;
      }
      const at = key.range?.[0] ?? -1;
      repeated.push(new YAMLParseError([at, at + 1], "DUPLICATE_KEY", "Map keys must be unique"));
    }
    return true;
  });
  return { keys, repeated };
}

/**
 * Calls `fn` on every node of a tree (keys included, aliases not followed) until it returns
 * false. The library's `visit` does the same at several times the cost (it allows edits).
 */
function eachNode(root: unknown, fn: (node: unknown) => boolean): boolean {
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || node === undefined) continue;
    if (isPair(node)) {
      stack.push(node.value, node.key);
      continue;
    }
    if (!fn(node)) return false;
    if (isCollection(node))
      for (let i = node.items.length - 1; i >= 0; i--) stack.push(node.items[i]);
  }
  return true;
}

/** Adds errors among a document's own, in order of position. */
function addErrors(doc: Document.Parsed, found: YAMLParseError[]): void {
  if (found.length === 0) return;
  found.sort((a, b) => a.pos[0] - b.pos[0]);
  const errors = doc.errors;
  const merged: YAMLParseError[] = [];
  let i = 0;
  for (const error of found) {
    while (i < errors.length && errors[i]!.pos[0] <= error.pos[0]) merged.push(errors[i++]!);
    merged.push(error);
  }
  merged.push(...errors.slice(i));
  errors.splice(0, errors.length, ...merged);
}

/**
 * `y` and `n` are booleans in YAML 1.1 on paper, but a name such as `y` is far likelier
 * meant as itself (go-yaml v3 and most tools agree): where the YAML 1.2 reading holds one of
 * those single letters, it is kept. The two readings have the same shape, entry by entry.
 */
function keepSingleLetters(v12: JsonValue, v11: JsonValue): JsonValue {
  if (typeof v11 === "boolean" && typeof v12 === "string" && /^[yYnN]$/.test(v12)) return v12;
  if (Array.isArray(v11) && Array.isArray(v12)) {
    return v11.map((item, i) => (i < v12.length ? keepSingleLetters(v12[i]!, item) : item));
  }
  if (isPlainObject(v11) && isPlainObject(v12)) {
    const before = Object.entries(v12);
    const out: JsonObject = {};
    Object.entries(v11).forEach(([key, item], i) => {
      const twin = before[i];
      const name = twin && /^[yYnN]$/.test(twin[0]) && /^(true|false)$/.test(key) ? twin[0] : key;
      Object.defineProperty(out, name, {
        value: twin ? keepSingleLetters(twin[1], item) : item,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    });
    return out;
  }
  return v11;
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const TOO_DEEP = "the document nests too deeply to be read (the parser ran out of stack); not read";

/**
 * The number of nodes a document holds once every alias (and merge key) is expanded,
 * counted without expanding anything: an alias costs the size of what it points at,
 * remembered per anchored node. Stops counting once over `limit`.
 */
function expandedSize(doc: Document, limit: number): number {
  const memo = new Map<Node, number>();
  const sizeOf = (node: unknown, depth: number): number => {
    if (depth > 10_000) throw new RangeError("too deep");
    if (isAlias(node)) {
      const target = node.resolve(doc);
      return target ? sizeOf(target, depth + 1) : 1;
    }
    if (isPair(node)) return sizeOf(node.key, depth + 1) + sizeOf(node.value, depth + 1);
    if (!isCollection(node)) return 1;
    const known = memo.get(node);
    if (known !== undefined) return known;
    let total = 1;
    for (const item of node.items) {
      total += sizeOf(item, depth + 1);
      if (total > limit) break;
    }
    memo.set(node, total);
    return total;
  };
  return sizeOf(doc.contents, 0);
}

/** Kubernetes (sigs.k8s.io/yaml, go-yaml v2) and LiteLLM (PyYAML) read YAML 1.1. */
function readsAsYaml11(doc: ParsedDocument): boolean {
  if (detectFormat(doc.value) === "litellm") return true;
  const value = doc.value;
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    typeof value.apiVersion === "string" &&
    typeof value.kind === "string"
  );
}

/**
 * A Kubernetes manifest with `.inf` or `.nan` is refused by the API server (JSON has no such
 * numbers): say so instead of recording a string the cluster would never hold.
 */
function yaml11Result(documents: ParsedDocument[], path: string, bytes: Buffer): ParseResult {
  for (const doc of documents) {
    if (detectFormat(doc.value) === "litellm") continue;
    const where = nonFinitePath(doc.value, "");
    if (where === undefined) continue;
    return {
      documents: [],
      problems: [
        {
          code: "CRW_YAML_SYNTAX",
          message: `document ${doc.index}: ${where || "(root)"} is not a finite number (.inf or .nan), which JSON and the Kubernetes API cannot hold; not read`,
          location: { path, line: doc.line, document: doc.index, field: where },
          fingerprint: `${sha256Hex(bytes)}:CRW_YAML_SYNTAX`,
        },
      ],
    };
  }
  return { documents, problems: [] };
}

function nonFinitePath(value: unknown, at: string): string | undefined {
  if (value instanceof NonFinite) return at;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = nonFinitePath(item, `${at}[${i}]`);
      if (found !== undefined) return found;
    }
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const found = nonFinitePath(item, at ? `${at}.${key}` : key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** A non-finite number met while reading YAML 1.1 (kept apart from a string ".inf"). */
class NonFinite extends String {}

/**
 * LiteLLM reads its config with PyYAML and Kubernetes its manifests with go-yaml v2, which
 * both speak YAML 1.1: there `tpm: 80_000` is the number 80000, `0644` is 420 and `yes` is
 * true. Such documents are read again that way, so crwatch sees the values those systems act
 * on; integers beyond 2^53 stay exact (as their digits). A document that fails the second
 * reading keeps its first one (the file parsed, and losing it would look like a deletion).
 */
function asYaml11(tokens: CST.Token[], documents: ParsedDocument[]): ParsedDocument[] {
  let reparsed: Document.Parsed[];
  try {
    reparsed = composeAll(tokens, { version: "1.1", merge: true, intAsBigInt: true });
  } catch {
    return documents;
  }
  return documents.map((doc) => {
    const again = reparsed[doc.index];
    if (!readsAsYaml11(doc) || !again || again.errors.length > 0) return doc;
    try {
      const kubernetes = detectFormat(doc.value) !== "litellm";
      const value = keepSingleLetters(
        doc.value,
        toJsonValue(again.toJS({ maxAliasCount: -1 }), kubernetes),
      );
      return Object.defineProperty({ ...doc, value }, "lineOf", { value: doc.lineOf });
    } catch {
      return doc;
    }
  });
}

/** Only the first line: the yaml library's later lines quote the source, which may hold a secret. */
function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split(/\r?\n/, 1)[0]!.replace(/:\s*$/, "");
}

function clip(message: string): string {
  return message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message;
}

/**
 * What toJS gives is nearly JSON; the rest is mapped the way it would be written: YAML 1.1
 * timestamps as ISO strings, !!binary as base64, non-finite numbers as their YAML spelling.
 */
function toJsonValue(value: unknown, markNonFinite = false): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(value)) return value;
      return markNonFinite
        ? (new NonFinite(yamlSpelling(value)) as unknown as string)
        : yamlSpelling(value);
    case "bigint":
      // Exact as a number when it fits; beyond 2^53 its digits, never a rounded number.
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    case "object":
      return objectToJson(value, markNonFinite);
    default:
      return String(value);
  }
}

function objectToJson(value: object, markNonFinite: boolean): JsonValue {
  const toJson = (v: unknown) => toJsonValue(v, markNonFinite);
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (value instanceof Set) return [...value].map(toJson);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  const out: JsonObject = {};
  for (const [key, item] of entries) {
    // A plain assignment to `__proto__` would set the prototype and lose the key.
    Object.defineProperty(out, String(key), {
      value: toJson(item),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function yamlSpelling(n: number): string {
  if (Number.isNaN(n)) return ".nan";
  return n > 0 ? ".inf" : "-.inf";
}
