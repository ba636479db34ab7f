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
  /** The channel the actor used: `kubectl`, `git`, `argocd`, `file` … */
  via?: string;
}

/** Why a change happened, when the source can tell (commit message, audit event). */
export interface Cause {
  kind: string;
  id?: string;
  message?: string;
}

export interface ObservedObject {
  ref: Ref;
  object: JsonObject;
  location?: Location;
  actor?: Actor;
  cause?: Cause;
}

/** A problem a source met while reading, e.g. a file that does not parse. */
export interface SourceProblem {
  code: string;
  message: string;
  location: Location;
  /**
   * Identifies this occurrence of the problem (e.g. a hash of the bad file's bytes), so the
   * same problem is recorded once until the input changes, not once per retry.
   */
  fingerprint: string;
}

export type ObservationEvent =
  | { type: "upsert"; item: ObservedObject }
  | { type: "delete"; ref: Ref; location?: Location; actor?: Actor; cause?: Cause }
  /**
   * The source's whole set of objects is now exactly `items`, so objects absent from it
   * were deleted, except those last seen under a `keep` location prefix (a file or
   * directory the source could not read this time: absence there proves nothing).
   */
  | { type: "snapshot"; items: ObservedObject[]; keep: string[] }
  | { type: "gap"; reason: string; detail?: string }
  | { type: "problem"; problem: SourceProblem }
  /** A location that had a problem reads cleanly again. */
  | { type: "recovered"; location: string };

/** What a source emits: events in order, and the cursor to resume after them. */
export interface Observation {
  source: string;
  events: ObservationEvent[];
  cursor?: string;
  /** ISO-8601 time the source saw this. */
  observedAt: string;
}
