import type { ErrorCode } from "./errors.js";
import type { JsonObject } from "./json.js";
import type { Ref } from "./ref.js";

/** Where an object or a problem was seen: a file and line, an API path, a Git blob. */
export interface Location {
  path: string;
  line?: number;
  column?: number;
  /** Index of the document within a multi-document file. */
  document?: number;
  /** Dotted path of the offending field, when a problem is about one field. */
  field?: string;
}

/** Who made a change, when the source can tell (Git author, audit user, field manager). */
export interface Actor {
  name: string;
  email?: string;
  /** The channel the actor used: `kubectl`, `git`, `argocd`, `file`, `admin-api` … */
  via?: string;
}

/** Why a change happened, when the source can tell (commit message, audit event). */
export interface Cause {
  /** `commit`, `audit`, `webhook`, `poll` … */
  kind: string;
  /** A commit sha, an audit ID, a delivery id. */
  id?: string;
  message?: string;
  /** ISO-8601 time of the cause (commit time, audit stage time), when it differs from observedAt. */
  time?: string;
  /** Further facts worth keeping (committer, merged branch, user agent …), all strings. */
  details?: Record<string, string>;
}

export interface ObservedObject {
  ref: Ref;
  object: JsonObject;
  /**
   * The object's JSON text, when the source holds it (a parse worker's output, a list item):
   * ingest hands it to a build worker as it is, so the ingest thread neither parses nor
   * serializes the object (decision 0033). See `observedText`.
   */
  json?: string;
  location?: Location;
  actor?: Actor;
  cause?: Cause;
}

/**
 * An observed object given as JSON text: `object` is parsed on first read only, so a
 * consumer that reads `json` (ingest) never pays for the parse. The text must be the JSON
 * of a JSON object.
 */
export function observedText(
  json: string,
  fields: Omit<ObservedObject, "object" | "json">,
): ObservedObject {
  const item = { ...fields, json } as ObservedObject;
  Object.defineProperty(item, "object", {
    configurable: true,
    enumerable: true,
    get(): JsonObject {
      const object = JSON.parse(json) as JsonObject;
      Object.defineProperty(item, "object", { value: object, enumerable: true, writable: true });
      return object;
    },
  });
  return item;
}

/**
 * The item with some fields replaced. An item given as text stays text: a spread would read
 * (so parse) `object`.
 */
export function withFields(
  item: ObservedObject,
  fields: Partial<Omit<ObservedObject, "object" | "json">>,
): ObservedObject {
  if (item.json === undefined) return { ...item, ...fields };
  return observedText(item.json, { ...fieldsOf(item), ...fields });
}

/** The item's fields other than its object, read without touching `object` (maybe a getter). */
export function fieldsOf(item: ObservedObject): Omit<ObservedObject, "object" | "json"> {
  const { ref, location, actor, cause } = item;
  return { ref, ...(location && { location }), ...(actor && { actor }), ...(cause && { cause }) };
}

/** A problem a source met while reading, e.g. a file that does not parse. */
export interface SourceProblem {
  code: ErrorCode;
  message: string;
  location: Location;
  /**
   * Identifies this occurrence of the problem (e.g. a hash of the bad file's bytes), so the
   * same problem is recorded once until the input changes, not once per retry.
   */
  fingerprint: string;
}

/**
 * A part of what one source sees. Every field that is set must match (an empty scope is the
 * whole source): `{ group: "gateway.networking.k8s.io", kind: "HTTPRoute" }` is one watched
 * kind, `{ locationPrefix: "/etc/gw/teams" }` a directory and everything under it.
 */
export interface Scope {
  group?: string;
  kind?: string;
  namespace?: string;
  /** A location path, matching itself and anything below it (`prefix/…`). */
  locationPrefix?: string;
}

export type ObservationEvent =
  | { type: "upsert"; item: ObservedObject }
  | { type: "delete"; ref: Ref; location?: Location; actor?: Actor; cause?: Cause }
  /**
   * The objects within `scope` are now exactly `items`: objects in the scope that are absent
   * were deleted, except those matching one of `keep` (a part the source could not read
   * this time: absence there proves nothing). Objects outside the scope are untouched.
   */
  | { type: "snapshot"; scope?: Scope; items: ObservedObject[]; keep?: Scope[] }
  /**
   * The same, delivered in pages so a list of 100,000 objects never sits in memory as one
   * array: `snapshot-begin`, any number of `snapshot-page` events (in this or later
   * observations), then `snapshot-end`, which infers the deletions. A new begin with the same
   * id discards a snapshot that never ended (the source restarted its list).
   */
  | { type: "snapshot-begin"; id: string; scope?: Scope; keep?: Scope[] }
  | { type: "snapshot-page"; id: string; items: ObservedObject[] }
  | { type: "snapshot-end"; id: string }
  /** The source could not see some interval; what follows was inferred from a fresh view. */
  | { type: "gap"; code: ErrorCode; reason: string; detail?: string; scope?: Scope }
  | { type: "problem"; problem: SourceProblem }
  /** A location that had a problem reads cleanly again. */
  | { type: "recovered"; location: string };

/**
 * What a source emits: events in order, the positions to resume after them, and, when the
 * source knows them, the actor and cause of everything in it (a Git commit's author and
 * message, an audit event's user). Per-item actor and cause win over these; deletions that a
 * snapshot infers take these.
 */
export interface Observation {
  source: string;
  events: ObservationEvent[];
  /**
   * Positions per stream (one resourceVersion per watched kind, one commit per branch),
   * stored in the same transaction as the changes. Streams not named keep their position.
   */
  cursors?: Record<string, string>;
  actor?: Actor;
  cause?: Cause;
  /** ISO-8601 time the source saw this. */
  observedAt: string;
}

/** The stream a source with a single position uses. */
export const DEFAULT_STREAM = "default";

/** True when a ref (and its last location) lies within the scope. */
export function inScope(scope: Scope | undefined, ref: Ref, location: Location | null): boolean {
  if (!scope) return true;
  if (scope.group !== undefined && scope.group !== ref.group) return false;
  if (scope.kind !== undefined && scope.kind !== ref.kind) return false;
  if (scope.namespace !== undefined && scope.namespace !== ref.namespace) return false;
  if (scope.locationPrefix !== undefined) {
    const path = location?.path;
    const prefix = scope.locationPrefix;
    if (path === undefined || (path !== prefix && !path.startsWith(`${prefix}/`))) return false;
  }
  return true;
}
