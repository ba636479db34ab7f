import { LineCounter, parseAllDocuments } from "yaml";
import { sha256Hex } from "../core/stable-json.js";
import type { ErrorCode } from "../model/errors.js";
import type { JsonObject, JsonValue } from "../model/json.js";
import type { Location, SourceProblem } from "../model/observation.js";
import { detectFormat } from "./detect.js";

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
  /** How many alias expansions a document may cost before it is refused; default 100. */
  maxAliasCount?: number;
}

export interface ParseResult {
  documents: ParsedDocument[];
  problems: SourceProblem[];
}

export const DEFAULT_MAX_ALIAS_COUNT = 100;
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
  return parseText(text, bytes, path, options.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT);
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

function parseText(text: string, bytes: Buffer, path: string, maxAliasCount: number): ParseResult {
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
  let parsed: ReturnType<typeof parseAllDocuments>;
  try {
    // Merge keys (`<<`) on: Kubernetes, decK (go-yaml) and LiteLLM (PyYAML) all honour them.
    parsed = parseAllDocuments(text, { lineCounter, merge: true });
  } catch (err) {
    return problem("CRW_YAML_SYNTAX", `the file could not be parsed: ${firstLine(err)}`);
  }
  const errors = parsed.flatMap((doc) => doc.errors);
  const first = errors[0];
  if (first) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : "";
    const at = first.linePos?.[0] ?? lineCounter.linePos(first.pos[0]);
    return problem("CRW_YAML_SYNTAX", `${firstLine(first)}${more}`, at.line, at.col);
  }
  const documents: ParsedDocument[] = [];
  for (const [index, doc] of parsed.entries()) {
    const line = lineCounter.linePos(doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0).line;
    let value: JsonValue;
    try {
      value = toJsonValue(doc.toJS({ maxAliasCount }));
    } catch (err) {
      if (isAliasLimit(err)) {
        const message = `document ${index} expands YAML aliases more than the limit of ${maxAliasCount} allows (possible alias bomb); not read`;
        return problem("CRW_YAML_ALIAS_LIMIT", message, line);
      }
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
  if (documents.some((d) => detectFormat(d.value) === "litellm")) {
    return { documents: asYaml11(text, documents, maxAliasCount), problems: [] };
  }
  return { documents, problems: [] };
}

/**
 * LiteLLM reads its config with PyYAML, which speaks YAML 1.1: there `tpm: 80_000` is the
 * number 80000 and `on`/`yes` are booleans. Its documents are read again that way, so
 * crwatch sees the values LiteLLM acts on; a document that fails the second reading keeps
 * its first one (the file parsed, and losing it would look like a deletion).
 */
function asYaml11(
  text: string,
  documents: ParsedDocument[],
  maxAliasCount: number,
): ParsedDocument[] {
  let reparsed: ReturnType<typeof parseAllDocuments>;
  try {
    reparsed = parseAllDocuments(text, { version: "1.1", merge: true });
  } catch {
    return documents;
  }
  return documents.map((doc) => {
    const again = reparsed[doc.index];
    if (detectFormat(doc.value) !== "litellm" || !again || again.errors.length > 0) return doc;
    try {
      const value = toJsonValue(again.toJS({ maxAliasCount }));
      return Object.defineProperty({ ...doc, value }, "lineOf", { value: doc.lineOf });
    } catch {
      return doc;
    }
  });
}

function isAliasLimit(err: unknown): boolean {
  return err instanceof ReferenceError && /excessive alias count/i.test(err.message);
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
function toJsonValue(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : yamlSpelling(value);
    case "bigint":
      return value.toString();
    case "object":
      return objectToJson(value);
    default:
      return String(value);
  }
}

function objectToJson(value: object): JsonValue {
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (value instanceof Set) return [...value].map(toJsonValue);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  const out: JsonObject = {};
  for (const [key, item] of entries) {
    // A plain assignment to `__proto__` would set the prototype and lose the key.
    Object.defineProperty(out, String(key), {
      value: toJsonValue(item),
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
