import { type CanonicalizeOptions, canonicalize } from "../core/canonicalize.js";
import { applyPatch, diff } from "../core/diff.js";
import type { Masker } from "../core/mask.js";
import { sha256Hex, stableStringify } from "../core/stable-json.js";
import { summarize } from "../core/summarize.js";
import type { Finding, PatchOp, ResourceChangeType } from "../model/change.js";
import type { JsonObject } from "../model/json.js";
import type { Actor, Cause } from "../model/observation.js";
import type { Ref } from "../model/ref.js";
import type { EvaluateRules } from "../model/rule.js";

/**
 * The per-object work of ingest, with no state beyond one batch: encode (canonicalize,
 * mask, serialize, hash) and explain (patch, summary, findings). Pure, so it runs the same
 * in the ingest thread and in build workers (decision 0025).
 */
export interface Kernel {
  masker: Masker;
  /**
   * The masker of the key before a rotation, while heads may still carry its masks
   * (decision 0028): a head equal to the object under it is re-masked, not changed.
   */
  previousMasker?: Masker;
  canonicalize: CanonicalizeOptions;
  /** Rules that judge one change alone; stateful rules run in order in the ingest thread. */
  rules: EvaluateRules;
}

/** A new object with its serialization and content hash, computed once. */
export interface Encoded {
  object: JsonObject;
  json: string;
  hash: string;
}

export interface Explained {
  patch: PatchOp[];
  summary: string[];
  findings: Finding[];
  /** `JSON.stringify(patch)` when a build worker sent the patch as text (see build-wire.ts). */
  patchJson?: string;
}

export interface ExplainInput {
  type: ResourceChangeType;
  ref: Ref;
  before: JsonObject | null;
  after: JsonObject | null;
  actor: Actor | null;
  cause: Cause | null;
  observedAt: string;
}

/**
 * What the "before" side of an upsert is: the JSON text of the ref's latest object, null
 * when the ref has no live head (an ADDED), CONTINUE when an earlier upsert of the same ref
 * in this batch decides it, and undefined when the ingest thread does not hold it in memory
 * (the job then reports `needBefore` and the ingest thread reads it from the store).
 */
export const CONTINUE = 1;
export type BeforeSide = string | null | typeof CONTINUE | undefined;

export interface UpsertJob {
  key: string;
  ref: Ref;
  /** The object as the source gave it, or its JSON text (parsed where the job runs). */
  object: JsonObject | string;
  /** Content hash of the live head (null: none); ignored with CONTINUE. */
  headHash: string | null;
  before: BeforeSide;
  actor: Actor | null;
  cause: Cause | null;
  observedAt: string;
}

/** A head whose content is unchanged under the previous mask key, under the new one. */
export interface Remasked {
  json: string;
  hash: string;
}

export type UpsertResult =
  | { changed: false; remask?: Remasked }
  | { changed: true; json: string; hash: string; needBefore: true }
  | ({
      changed: true;
      json: string;
      hash: string;
      needBefore: false;
      /** The head re-masked to the form the patch is from (see carryOver). */
      carried?: Remasked;
    } & Explained);

/** The job's object, parsed here when the source gave its text. */
export function rawObject(job: Pick<UpsertJob, "object">): JsonObject {
  return typeof job.object === "string" ? (JSON.parse(job.object) as JsonObject) : job.object;
}

/** Canonical, masked, serialized and hashed: what ingest stores and compares. */
export function encode(kernel: Kernel, object: JsonObject, masker = kernel.masker): Encoded {
  const masked = masker(canonicalize(object, kernel.canonicalize));
  const json = JSON.stringify(masked);
  return { object: masked, json, hash: sha256Hex(json) };
}

/** The object as the key before a rotation masked it, when one is configured. */
function underPreviousKey(kernel: Kernel, object: JsonObject): Encoded | undefined {
  return kernel.previousMasker && encode(kernel, object, kernel.previousMasker);
}

/**
 * A "before" that may still carry the previous key's masks would show every secret as
 * changed. The real change is the one between the new object under the previous key and
 * `before`; carried onto the new object (the two differ in masks only, so they share their
 * structure), it gives `before` under the new masks wherever its content is unchanged. The
 * change's patch is from that form, so the head is re-masked to it in the same commit
 * (`remask`: the store rebuilds the new revision from it). Undefined when nothing changes.
 */
export function carryOver(
  kernel: Kernel,
  raw: JsonObject,
  stored: JsonObject | null,
  after: JsonObject,
  previous: Encoded | undefined = underPreviousKey(kernel, raw),
): { before: JsonObject; remask: Remasked } | undefined {
  if (stored === null || !previous) return undefined;
  const before = applyPatch(after, diff(previous.object, stored)) as JsonObject;
  // Committed objects are canonical (sorted keys); the patch may append keys out of order.
  const json = stableStringify(before);
  if (json === stableStringify(stored)) return undefined;
  return { before, remask: { json, hash: sha256Hex(json) } };
}

/** The patch from `before` to `after` (a missing side is `{}`), its summary and findings. */
export function explain(kernel: Kernel, input: ExplainInput): Explained {
  const { before, after } = input;
  // A missing side is the empty object, so every patch (ADDED, DELETED too) is exact RFC 6902.
  const patch =
    before === null
      ? addAll(after ?? {})
      : after === null
        ? removeAll(before)
        : diff(before, after);
  return {
    patch,
    summary: summarize(patch, before ?? {}, after ?? {}),
    findings: kernel.rules({ ...input, patch }),
  };
}

/**
 * Runs a batch's upserts in order. Jobs of one ref must all be in the same call (the
 * caller shards by ref), so CONTINUE can refer to the previous job's outcome.
 */
export function runUpserts(kernel: Kernel, jobs: readonly UpsertJob[]): UpsertResult[] {
  const latest = new Map<string, { hash: string | null; json: string | null | undefined }>();
  return jobs.map((job) => {
    const side =
      job.before === CONTINUE
        ? (latest.get(job.key) ?? { hash: job.headHash, json: undefined })
        : { hash: job.headHash, json: job.before };
    const raw = rawObject(job);
    const encoded = encode(kernel, raw);
    if (side.hash !== null && side.hash === encoded.hash) {
      latest.set(job.key, side);
      return { changed: false };
    }
    latest.set(job.key, { hash: encoded.hash, json: encoded.json });
    const { json, hash } = encoded;
    const previous = side.hash === null ? undefined : underPreviousKey(kernel, raw);
    // Unchanged but for the rotated key's masks: the head takes the new ones, silently.
    if (previous?.hash === side.hash) return { changed: false, remask: { json, hash } };
    if (side.json === undefined) return { changed: true, json, hash, needBefore: true };
    const stored = side.json === null ? null : (JSON.parse(side.json) as JsonObject);
    // A side this batch wrote (CONTINUE) is under the new key already.
    const carried =
      job.before === CONTINUE
        ? undefined
        : carryOver(kernel, raw, stored, encoded.object, previous);
    const before = carried?.before ?? stored;
    const explained = explain(kernel, {
      type: before === null ? "ADDED" : "MODIFIED",
      ref: job.ref,
      before,
      after: encoded.object,
      actor: job.actor,
      cause: job.cause,
      observedAt: job.observedAt,
    });
    return {
      changed: true,
      json,
      hash,
      needBefore: false,
      ...explained,
      ...(carried && { carried: carried.remask }),
    };
  });
}

/** The patch from `{}` to `object`: one add per top-level field (what `diff({}, object)` gives, without copying). */
function addAll(object: JsonObject): PatchOp[] {
  return Object.keys(object).map((key) => ({
    op: "add",
    path: `/${escapeToken(key)}`,
    value: object[key],
  }));
}

/** The patch from `object` to `{}`. */
function removeAll(object: JsonObject): PatchOp[] {
  return Object.keys(object).map((key) => ({ op: "remove", path: `/${escapeToken(key)}` }));
}

function escapeToken(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}
