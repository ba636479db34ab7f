import type { ErrorCode } from "./errors.js";
import type { JsonObject } from "./json.js";
import type { Actor, Cause, Location } from "./observation.js";
import type { Ref } from "./ref.js";

export const RESOURCE_CHANGE_TYPES = ["ADDED", "MODIFIED", "DELETED"] as const;
export const NOTICE_TYPES = ["GAP", "ERROR"] as const;
export type ResourceChangeType = (typeof RESOURCE_CHANGE_TYPES)[number];
export type NoticeType = (typeof NOTICE_TYPES)[number];
export type ChangeType = ResourceChangeType | NoticeType;

export type Severity = "info" | "low" | "medium" | "high" | "critical";

/** What a rule says of a change. */
export interface Finding {
  ruleId: string;
  severity: Severity;
  message: string;
  /** JSON pointer of the field the finding is about. */
  path?: string;
}

/** One RFC 6902 operation. */
export interface PatchOp {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  value?: unknown;
  from?: string;
}

/** For GAP and ERROR entries: what the source could not see or read. */
export interface Notice {
  code: ErrorCode;
  message: string;
}

/** A change as ingest produces it, before the store gives it a seq and a hash. */
export interface NewChange {
  type: ChangeType;
  ref: Ref;
  /** The revision this change creates; null for notices. */
  revision: number | null;
  previousRevision: number | null;
  actor: Actor | null;
  cause: Cause | null;
  location: Location | null;
  observedAt: string;
  patch: PatchOp[];
  summary: string[];
  findings: Finding[];
  notice: Notice | null;
  /** The new canonical, masked object (null for DELETED and notices). */
  object: JsonObject | null;
  /** `JSON.stringify(object)` when the caller already has it (hashing needs it), to skip a second encoding. */
  objectJson?: string;
  /**
   * `JSON.stringify(patch)` when the caller already has it (a build worker sends the patch
   * as text, decision 0038); `patch` may then be parsed on first read (setLazyPatch).
   */
  patchJson?: string;
  /** sha256 of the canonical object; null when there is no object. */
  contentHash: string | null;
  /** For ERROR entries: the fingerprint that stops the same problem being recorded twice. */
  fingerprint?: string;
  /** For ERROR entries: the open-problem slot it fills (default: the location's path). */
  problemSlot?: string;
}

/** A committed entry of the change log. */
export interface Change
  extends Omit<NewChange, "object" | "objectJson" | "patchJson" | "fingerprint" | "problemSlot"> {
  /**
   * Stable identity for receivers to de-duplicate on (CloudEvents `id`, `webhook-id`,
   * `Nats-Msg-Id`): the same on every redelivery, after a restart, and in a history copied to
   * another store dialect, because it is derived from the entry's chain hash.
   */
  id: string;
  seq: number;
  committedAt: string;
  hash: string;
  prevHash: string;
}

/** The n-th stored state of one ref. */
export interface Revision {
  ref: Ref;
  revision: number;
  seq: number;
  /** null marks a deletion. */
  object: JsonObject | null;
  contentHash: string | null;
  location: Location | null;
}

/** 128 bits of the chain hash: unique per entry (the hash covers seq, content and the chain). */
export function changeId(hash: string): string {
  return hash.slice(0, 32);
}

export function isNotice(type: ChangeType): type is NoticeType {
  return type === "GAP" || type === "ERROR";
}

/**
 * Gives `target` a `patch` read from `patchJson` on first use and kept: a build worker sends
 * the patch as the text the row stores (an ADDED's is the whole object), and a change can be
 * committed without the ingest thread reading its operations (JSON.stringify, spreads and
 * sinks still see the value).
 */
export function setLazyPatch<T extends object>(
  target: T,
  patchJson: string,
): T & { patch: PatchOp[] } {
  let patch: PatchOp[] | undefined;
  Object.defineProperty(target, "patch", {
    enumerable: true,
    configurable: true,
    get: () => {
      patch ??= JSON.parse(patchJson) as PatchOp[];
      return patch;
    },
  });
  return target as T & { patch: PatchOp[] };
}

/** Copies `patch` from one object to another as it is there: a value, or a lazy read. */
export function copyPatch<T extends object>(
  target: T,
  from: { patch: PatchOp[] },
): T & { patch: PatchOp[] } {
  const descriptor = Object.getOwnPropertyDescriptor(from, "patch");
  if (descriptor) Object.defineProperty(target, "patch", descriptor);
  return target as T & { patch: PatchOp[] };
}
