import { type CanonicalizeOptions, canonicalize } from "../core/canonicalize.js";
import { diff } from "../core/diff.js";
import type { Masker } from "../core/mask.js";
import { sha256Hex } from "../core/stable-json.js";
import { summarize } from "../core/summarize.js";
import type { NewChange, Notice, PatchOp, ResourceChangeType } from "../model/change.js";
import type { JsonObject } from "../model/json.js";
import {
  type Actor,
  type Cause,
  inScope,
  type Location,
  type ObservationEvent,
  type ObservedObject,
  type Scope,
} from "../model/observation.js";
import { noticeRef, type Ref, refKey } from "../model/ref.js";
import type { EvaluateRules } from "../model/rule.js";
import type { CommitBatch } from "../store/store.js";
import type { SourceState } from "./head-cache.js";

export interface BuildOptions {
  masker: Masker;
  canonicalize: CanonicalizeOptions;
  rules: EvaluateRules;
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

/** Separates a file from a document index in a problem slot (no path holds a NUL). */
const SLOT_SEPARATOR = "\u0000";

/**
 * Where an open problem lives: a file may hold one file-wide problem and one per document
 * (a document that is not a mapping, a duplicate), each recorded once.
 */
function problemSlot(location: Location): string {
  return location.document === undefined
    ? location.path
    : `${location.path}${SLOT_SEPARATOR}${location.document}`;
}

function slotPath(slot: string): string {
  const cut = slot.indexOf(SLOT_SEPARATOR);
  return cut === -1 ? slot : slot.slice(0, cut);
}

/** A GAP about one kind is filed under that kind, so readers see which part went unseen. */
function gapName(scope: Scope | undefined): string {
  if (!scope) return "";
  return [
    scope.kind && (scope.group ? `${scope.kind}.${scope.group}` : scope.kind),
    scope.namespace,
    scope.locationPrefix,
  ]
    .filter(Boolean)
    .join(" ");
}

/** A new object with its serialization and content hash, computed once. */
interface Encoded {
  object: JsonObject;
  json: string;
  hash: string;
}

/** A snapshot that arrives in pages: what it covers, and the refs seen so far. */
export interface OpenSnapshot {
  scope: Scope | undefined;
  keep: Scope[];
  seen: Set<string>;
}

/** Who and why, for everything in one observation that does not say otherwise. */
export interface Attribution {
  actor: Actor | null;
  cause: Cause | null;
}

/** Turns one observation's events into changes, appended to a commit batch. */
export class ChangeBuilder {
  /** Scopes of the full views in this observation (their silence about a problem closes it). */
  private readonly viewedScopes: (Scope | undefined)[] = [];
  private readonly reportedProblems = new Set<string>();
  /** Paged snapshots this observation ended. */
  readonly endedSnapshots: string[] = [];

  constructor(
    private readonly batch: CommitBatch,
    private readonly options: BuildOptions,
    private readonly source: string,
    private readonly state: SourceState,
    private readonly observedAt: string,
    private readonly attribution: Attribution,
    /** Paged snapshots still open for this source; they outlive one observation. */
    private readonly openSnapshots: Map<string, OpenSnapshot>,
  ) {}

  async apply(event: ObservationEvent): Promise<void> {
    switch (event.type) {
      case "upsert":
        return this.upsert(event.item);
      case "delete":
        return this.remove(event.ref, event.location ?? null, {
          actor: event.actor ?? this.attribution.actor,
          cause: event.cause ?? this.attribution.cause,
        });
      case "snapshot":
        return this.snapshot(event.items, event.scope, event.keep ?? []);
      case "snapshot-begin":
        this.openSnapshots.set(event.id, {
          scope: event.scope,
          keep: event.keep ?? [],
          seen: new Set(),
        });
        return;
      case "snapshot-page":
        return this.snapshotPage(event.id, event.items);
      case "snapshot-end":
        return this.snapshotEnd(event.id);
      case "gap":
        this.notice("GAP", noticeRef(this.source, gapName(event.scope)), null, {
          code: event.code,
          message: event.detail ? `${event.reason}: ${event.detail}` : event.reason,
        });
        return;
      case "problem":
        return this.problem(event);
      case "recovered":
        return this.recovered(event.location);
    }
  }

  private async upsert(item: ObservedObject): Promise<void> {
    const object = this.options.masker(canonicalize(item.object, this.options.canonicalize));
    const objectJson = JSON.stringify(object);
    const contentHash = sha256Hex(objectJson);
    const key = refKey(item.ref);
    const head = this.state.heads.get(key);
    if (head && !head.deleted && head.contentHash === contentHash) return; // not a change
    const before = head && !head.deleted ? await this.state.latestObject(key, item.ref) : null;
    const type: ResourceChangeType = before ? "MODIFIED" : "ADDED";
    this.resourceChange(
      type,
      item.ref,
      before,
      { object, json: objectJson, hash: contentHash },
      {
        location: item.location ?? null,
        actor: item.actor ?? this.attribution.actor,
        cause: item.cause ?? this.attribution.cause,
      },
    );
  }

  private async remove(ref: Ref, location: Location | null, who: Attribution): Promise<void> {
    const key = refKey(ref);
    const head = this.state.heads.get(key);
    if (!head || head.deleted) return;
    const before = await this.state.latestObject(key, ref);
    this.resourceChange("DELETED", ref, before, null, {
      location: location ?? head.location,
      ...who,
    });
  }

  /**
   * A full view also lists every current problem within its scope: one it does not repeat
   * was fixed (maybe while crwatch was down), so its ERROR stops being open. Problems live at
   * locations, so only views scoped by location (or not at all) can say so. Call after the
   * last event.
   */
  finish(): void {
    for (const scope of this.viewedScopes) {
      if (scope && (scope.group ?? scope.kind ?? scope.namespace) !== undefined) continue;
      for (const slot of [...this.state.problems.keys()]) {
        const path = slotPath(slot);
        if (this.reportedProblems.has(slot) || !inScope(scope, noticeRef(""), { path })) continue;
        this.recovered(slot);
      }
    }
  }

  /** Upserts everything seen, then deletes what the source no longer has within the scope. */
  private async snapshot(
    items: ObservedObject[],
    scope: Scope | undefined,
    keep: Scope[],
  ): Promise<void> {
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(refKey(item.ref));
      await this.upsert(item);
    }
    await this.inferDeletions({ scope, keep, seen });
  }

  private async snapshotPage(id: string, items: ObservedObject[]): Promise<void> {
    // Without its begin (ingest restarted mid-list), the items still count as upserts.
    const open = this.openSnapshots.get(id);
    for (const item of items) {
      open?.seen.add(refKey(item.ref));
      await this.upsert(item);
    }
  }

  private async snapshotEnd(id: string): Promise<void> {
    const open = this.openSnapshots.get(id);
    if (!open) {
      // Deleting on a partial view would be wrong; say that deletions went unseen instead.
      this.notice("GAP", noticeRef(this.source), null, {
        code: "CRW_SNAPSHOT_INCOMPLETE",
        message: `snapshot ${id} ended without its beginning; deletions in it were not inferred`,
      });
      return;
    }
    // Forgotten only once the commit holds (Ingest does it): a failed commit is retried.
    this.endedSnapshots.push(id);
    await this.inferDeletions(open);
  }

  /** What the view does not list, within its scope and outside what it could not read, is gone. */
  private async inferDeletions(view: OpenSnapshot): Promise<void> {
    this.viewedScopes.push(view.scope);
    for (const [key, head] of [...this.state.heads]) {
      if (head.deleted || view.seen.has(key)) continue;
      if (!inScope(view.scope, head.ref, head.location)) continue;
      if (view.keep.some((k) => inScope(k, head.ref, head.location))) continue;
      await this.remove(head.ref, head.location, this.attribution);
    }
  }

  private problem(event: Extract<ObservationEvent, { type: "problem" }>): void {
    const { problem } = event;
    const slot = problemSlot(problem.location);
    this.reportedProblems.add(slot);
    this.forgetResolution(slot);
    const open = this.state.problems.get(slot);
    if (open && open.fingerprint === problem.fingerprint) return; // already recorded
    this.state.problems.set(slot, { location: slot, fingerprint: problem.fingerprint, seq: 0 });
    this.notice(
      "ERROR",
      noticeRef(this.source, problem.location.path),
      problem.location,
      { code: problem.code, message: problem.message },
      { slot, fingerprint: problem.fingerprint },
    );
  }

  /** Resolutions are applied after a batch's changes: a problem reopened in the same batch must not be closed. */
  private forgetResolution(slot: string): void {
    const list = this.batch.resolvedProblems;
    const i = list.findIndex((r) => r.source === this.source && r.location === slot);
    if (i !== -1) list.splice(i, 1);
  }

  /** A location reads cleanly again: every open problem in it (file-wide or per document) closes. */
  private recovered(location: string): void {
    for (const slot of [...this.state.problems.keys()]) {
      if (slot !== location && !slot.startsWith(`${location}${SLOT_SEPARATOR}`)) continue;
      this.state.problems.delete(slot);
      this.batch.resolvedProblems.push({ source: this.source, location: slot });
    }
  }

  private notice(
    type: "GAP" | "ERROR",
    ref: Ref,
    location: Location | null,
    notice: Notice,
    problem?: { slot: string; fingerprint: string },
  ): void {
    const change: NewChange = {
      ...this.blank(type, ref),
      location,
      notice,
    };
    if (problem) {
      change.fingerprint = problem.fingerprint;
      change.problemSlot = problem.slot;
    }
    this.batch.changes.push(change);
  }

  private resourceChange(
    type: ResourceChangeType,
    ref: Ref,
    before: JsonObject | null,
    encoded: Encoded | null,
    who: { location: Location | null; actor: Actor | null; cause: Cause | null },
  ): void {
    const after = encoded?.object ?? null;
    const contentHash = encoded?.hash ?? null;
    const key = refKey(ref);
    const head = this.state.heads.get(key);
    const revision = (head?.revision ?? 0) + 1;
    // A missing side is the empty object, so every patch (ADDED, DELETED too) is exact RFC 6902.
    const patch =
      before === null
        ? addAll(after ?? {})
        : after === null
          ? removeAll(before)
          : diff(before, after);
    const input = { type, ref, before, after, patch, ...who, observedAt: this.observedAt };
    this.batch.changes.push({
      ...this.blank(type, ref),
      revision,
      previousRevision: head ? head.revision : null,
      ...who,
      patch,
      summary: summarize(patch, before ?? {}, after ?? {}),
      findings: this.options.rules(input),
      object: after,
      ...(encoded ? { objectJson: encoded.json } : {}),
      contentHash,
    });
    this.state.heads.set(key, {
      ref,
      revision,
      contentHash,
      deleted: after === null,
      location: who.location,
    });
    this.state.rememberObject(key, encoded?.json ?? null);
  }

  private blank(type: NewChange["type"], ref: Ref): NewChange {
    return {
      type,
      ref,
      revision: null,
      previousRevision: null,
      actor: null,
      cause: null,
      location: null,
      observedAt: this.observedAt,
      patch: [],
      summary: [],
      findings: [],
      notice: null,
      object: null,
      contentHash: null,
    };
  }
}
