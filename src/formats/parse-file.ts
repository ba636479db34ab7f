import { performance } from "node:perf_hooks";
import { sha256Hex } from "../core/stable-json.js";
import type { ObservedObject, SourceProblem } from "../model/observation.js";
import { parseDocuments } from "./documents.js";
import { toObservedObjects } from "./resources.js";

/** One file's bytes to turn into resources: all plain data, so it can cross to a worker. */
export interface ParseFileRequest {
  bytes: Uint8Array;
  source: string;
  /** The path items and problems are located at (the files source's path, git's `path@sha`). */
  location: string;
  /** The path that names documents without a Kubernetes identity (`<relPath>#<index>`). */
  relPath: string;
  maxBytes: number;
  maxExpandedNodes?: number;
}

export type ParsedFile =
  /** Read; `problems` are about single documents (one not a mapping), the rest stands. */
  | { status: "read"; items: ObservedObject[]; problems: SourceProblem[]; contentHash: string }
  /** Nothing could be taken from the file (syntax, encoding, size, a parser crash). */
  | { status: "unreadable"; problems: SourceProblem[]; contentHash: string };

/** A parse and how long it took (for the debug log and the benchmark). */
export type TimedParse = ParsedFile & { parseMs: number };

/**
 * The one way a source turns a file's bytes into resources, inline or in a parse worker:
 * parseDocuments (YAML 1.1 for Kubernetes-style documents, the size, alias and encoding
 * checks) then toObservedObjects. `.json` files take JSON.parse where it reads the same.
 */
export function parseFile(request: ParseFileRequest): TimedParse {
  const started = performance.now();
  const bytes = Buffer.from(request.bytes.buffer, request.bytes.byteOffset, request.bytes.length);
  const { source, location, relPath, maxBytes, maxExpandedNodes } = request;
  const contentHash = sha256Hex(bytes);
  const parsed = parseDocuments(bytes, location, {
    maxBytes,
    json: isJsonPath(relPath),
    ...(maxExpandedNodes !== undefined && { maxExpandedNodes }),
  });
  if (parsed.problems.length > 0) {
    const parseMs = performance.now() - started;
    return { status: "unreadable", problems: parsed.problems, contentHash, parseMs };
  }
  const { items, problems } = toObservedObjects(source, relPath, location, parsed.documents);
  return { status: "read", items, problems, contentHash, parseMs: performance.now() - started };
}

/** A `.json` file: JSON.parse may read it (see parseDocuments). */
export function isJsonPath(path: string): boolean {
  return /\.json$/i.test(path);
}
