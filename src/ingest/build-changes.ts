import {
  copyPatch,
  type NewChange,
  type Notice,
  type ResourceChangeType,
} from "../model/change.js";
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
import type { CommitBatch, Head } from "../store/store.js";
import {
  CONTINUE,
  carryOver,
  type Explained,
  explain,
  type Kernel,
  type Remasked,
  rawObject,
  type UpsertJob,
  type UpsertResult,
} from "./build-kernel.js";
import type { UpsertRunner } from "./build-pool.js";
import type { SourceState } from "./head-cache.js";

export interface BuildOptions {
  /** Encodes and explains in this thread (deletions, store-read fallbacks). */
  kernel: Kernel;
  /** Runs the upserts of a batch, here or in build workers. */
  runner: UpsertRunner;
  /** Rules that keep memory across changes (a burst): run here, in commit order. */
  statefulRules: EvaluateRules;
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

/** Who, where and why of one resource change. */
interface Who {
  location: Location | null;
  actor: Actor | null;
  cause: Cause | null;
  observedAt: string;
}

/** One step of a batch, in commit order; upserts wait for their outcome until finalize. */
type Entry =
  | { kind: "notice"; change: NewChange }
  | { kind: "upsert"; state: SourceState; job: UpsertJob; location: Location | null }
  | { kind: "delete"; state: SourceState; key: string; ref: Ref; who: Who };

/**
 * A ref as the batch left it so far. Whether a ref is live after an upsert or a deletion is
 * known at once; only the content (so the revision number) waits for the upsert's outcome.
 */
interface Overlay {
  ref: Ref;
  live: boolean;
  location: Location | null;
  /** The last event of this ref in the batch was an upsert: the next one CONTINUEs it. */
  upserted: boolean;
}

/**
 * One commit's worth of observations on their way to changes, in three steps: collect (every
 * observation's events in order: which refs are upserted, deleted, noticed), run (the
 * upserts, in build workers or here) and finalize (in order again: drop what did not change,
 * number the revisions, explain deletions, move the heads). Decision 0025.
 */
export class PendingBatch {
  private readonly entries: Entry[] = [];
  private readonly overlays = new Map<SourceState, Map<string, Overlay>>();
  private results: UpsertResult[] = [];

  constructor(
    readonly batch: CommitBatch,
    private readonly options: BuildOptions,
  ) {}

  overlayOf(state: SourceState): Map<string, Overlay> {
    let overlay = this.overlays.get(state);
    if (!overlay) {
      overlay = new Map();
      this.overlays.set(state, overlay);
    }
    return overlay;
  }

  push(entry: Entry): void {
    this.entries.push(entry);
  }

  async run(): Promise<void> {
    const jobs: UpsertJob[] = [];
    for (const entry of this.entries) if (entry.kind === "upsert") jobs.push(entry.job);
    this.results = jobs.length > 0 ? await this.options.runner.run(jobs) : [];
  }

  /** Appends the changes to the batch and moves each source's heads; call after run(). */
  async finalize(): Promise<void> {
    // The latest JSON of refs changed in this batch (the object cache may be off or full).
    const latest = new Map<string, string | null>();
    const stored = this.readStoredBefores();
    let next = 0;
    for (const entry of this.entries) {
      if (entry.kind === "notice") this.batch.changes.push(entry.change);
      else if (entry.kind === "upsert") {
        const result = this.results[next] as UpsertResult;
        await this.finishUpsert(entry, result, latest, stored.get(next++));
      } else await this.finishDelete(entry, latest);
    }
  }

  /**
   * The stored "before" of every upsert whose job found none in memory, read all at once:
   * on PostgreSQL each is a round trip, and one after the other they left the ingest thread
   * waiting. Such an upsert is its ref's first event in the batch (a later one CONTINUEs),
   * so the store's latest revision is its before, whenever it is read. By result index.
   */
  private readStoredBefores(): Map<number, Promise<JsonObject | null>> {
    const reads = new Map<number, Promise<JsonObject | null>>();
    let next = 0;
    for (const entry of this.entries) {
      if (entry.kind !== "upsert") continue;
      const result = this.results[next] as UpsertResult;
      if (result.changed && result.needBefore) {
        const read = entry.state.latestObject(entry.job.key, entry.job.ref);
        // Awaited in finalize's order; a failure must not go unhandled if finalize stops first.
        read.catch(() => undefined);
        reads.set(next, read);
      }
      next++;
    }
    return reads;
  }

  private async finishUpsert(
    entry: Extract<Entry, { kind: "upsert" }>,
    result: UpsertResult,
    latest: Map<string, string | null>,
    storedBefore?: Promise<JsonObject | null>,
  ): Promise<void> {
    if (!result.changed) {
      if (result.remask) this.remask(entry, result.remask, latest);
      return;
    }
    const { state, job } = entry;
    const head = state.heads.get(job.key);
    const type: ResourceChangeType = head && !head.deleted ? "MODIFIED" : "ADDED";
    let explained: Explained;
    if (result.needBefore) {
      // Not in memory when the batch was collected: the store holds it (nothing in this
      // batch changed the ref before this upsert, or the job would have CONTINUEd).
      const stored = await (storedBefore ?? this.latestObject(state, job.key, job.ref, latest));
      const after = JSON.parse(result.json) as JsonObject;
      const carried = carryOver(this.options.kernel, rawObject(job), stored, after);
      if (carried) this.pushRemask(job.ref, head, carried.remask);
      const before = carried?.before ?? stored;
      explained = explain(this.options.kernel, { ...job, type, before, after });
    } else {
      if (result.carried) this.pushRemask(job.ref, head, result.carried);
      explained = result;
    }
    const { actor, cause, observedAt } = job;
    const who = { location: entry.location, actor, cause, observedAt };
    this.record(state, type, job.ref, who, explained, { json: result.json, hash: result.hash });
    latest.set(job.key, result.json);
  }

  /**
   * Same content, masked with the rotated key: the head revision gets the new masks beside
   * its committed object, with no change (the rotation's one GAP entry says why). Only the
   * first upsert of a ref in a batch can re-mask, so the head is the one the job compared.
   */
  private remask(
    entry: Extract<Entry, { kind: "upsert" }>,
    remasked: Remasked,
    latest: Map<string, string | null>,
  ): void {
    const { state, job } = entry;
    const head = state.heads.get(job.key);
    if (!head || head.deleted) return;
    this.pushRemask(job.ref, head, remasked);
    state.heads.set(job.key, { ...head, contentHash: remasked.hash });
    state.rememberObject(job.key, remasked.json);
    latest.set(job.key, remasked.json);
  }

  /** The head revision's object under the new masks (the store applies it before the changes). */
  private pushRemask(ref: Ref, head: Head | undefined, remasked: Remasked): void {
    if (!head || head.deleted) return;
    this.batch.remasks ??= [];
    this.batch.remasks.push({
      ref,
      revision: head.revision,
      objectJson: remasked.json,
      contentHash: remasked.hash,
    });
  }

  private async finishDelete(
    entry: Extract<Entry, { kind: "delete" }>,
    latest: Map<string, string | null>,
  ): Promise<void> {
    const { state, key, ref, who } = entry;
    const head = state.heads.get(key);
    if (!head || head.deleted) return;
    const before = await this.latestObject(state, key, ref, latest);
    const explained = explain(this.options.kernel, {
      type: "DELETED",
      ref,
      before,
      after: null,
      actor: who.actor,
      cause: who.cause,
      observedAt: who.observedAt,
    });
    this.record(state, "DELETED", ref, who, explained, null);
    latest.set(key, null);
  }

  private async latestObject(
    state: SourceState,
    key: string,
    ref: Ref,
    latest: Map<string, string | null>,
  ): Promise<JsonObject | null> {
    const json = latest.get(key);
    if (json !== undefined) return json === null ? null : (JSON.parse(json) as JsonObject);
    return state.latestObject(key, ref);
  }

  private record(
    state: SourceState,
    type: ResourceChangeType,
    ref: Ref,
    who: Who,
    explained: Explained,
    encoded: { json: string; hash: string } | null,
  ): void {
    const key = refKey(ref);
    const head = state.heads.get(key);
    const revision = (head?.revision ?? 0) + 1;
    const stateful = this.options.statefulRules({
      type,
      ref,
      before: null,
      after: null,
      // Read only if a stateful rule asks: a build worker's ADDED patch is parsed on demand.
      get patch() {
        return explained.patch;
      },
      actor: who.actor,
      cause: who.cause,
      observedAt: who.observedAt,
    });
    const change: NewChange = {
      ...blank(type, ref, who.observedAt),
      revision,
      previousRevision: head ? head.revision : null,
      ...who,
      summary: explained.summary,
      findings: stateful.length > 0 ? [...explained.findings, ...stateful] : explained.findings,
      object: null,
      ...(encoded ? { objectJson: encoded.json } : {}),
      ...(explained.patchJson !== undefined ? { patchJson: explained.patchJson } : {}),
      contentHash: encoded?.hash ?? null,
    };
    this.batch.changes.push(copyPatch(change, explained));
    state.heads.set(key, {
      ref,
      revision,
      contentHash: encoded?.hash ?? null,
      deleted: encoded === null,
      location: who.location,
    });
    state.rememberObject(key, encoded?.json ?? null);
  }
}

function blank(type: NewChange["type"], ref: Ref, observedAt: string): NewChange {
  return {
    type,
    ref,
    revision: null,
    previousRevision: null,
    actor: null,
    cause: null,
    location: null,
    observedAt,
    patch: [],
    summary: [],
    findings: [],
    notice: null,
    object: null,
    contentHash: null,
  };
}

/** Collects one observation's events into a pending batch, in order. */
export class ChangeBuilder {
  /** Scopes of the full views in this observation (their silence about a problem closes it). */
  private readonly viewedScopes: (Scope | undefined)[] = [];
  private readonly reportedProblems = new Set<string>();
  /** Paged snapshots this observation ended. */
  readonly endedSnapshots: string[] = [];
  private readonly batch: CommitBatch;
  private readonly overlay: Map<string, Overlay>;

  constructor(
    private readonly pending: PendingBatch,
    private readonly source: string,
    private readonly state: SourceState,
    private readonly observedAt: string,
    private readonly attribution: Attribution,
    /** Paged snapshots still open for this source; they outlive one observation. */
    private readonly openSnapshots: Map<string, OpenSnapshot>,
  ) {
    this.batch = pending.batch;
    this.overlay = pending.overlayOf(state);
  }

  apply(event: ObservationEvent): void {
    switch (event.type) {
      case "upsert":
        this.upsert(event.item);
        break;
      case "delete":
        this.remove(event.ref, event.location ?? null, {
          actor: event.actor ?? this.attribution.actor,
          cause: event.cause ?? this.attribution.cause,
        });
        break;
      case "snapshot":
        this.snapshot(event.items, event.scope, event.keep ?? []);
        break;
      case "snapshot-begin":
        this.openSnapshots.set(event.id, {
          scope: event.scope,
          keep: event.keep ?? [],
          seen: new Set(),
        });
        break;
      case "snapshot-page":
        this.snapshotPage(event.id, event.items);
        break;
      case "snapshot-end":
        this.snapshotEnd(event.id);
        break;
      case "gap":
        this.notice("GAP", noticeRef(this.source, gapName(event.scope)), null, {
          code: event.code,
          message: event.detail ? `${event.reason}: ${event.detail}` : event.reason,
        });
        break;
      case "problem":
        this.problem(event);
        break;
      case "recovered":
        this.recovered(event.location);
        break;
    }
  }

  /** Live and where, as of the last event collected (the batch's own events first). */
  private view(key: string): Overlay | undefined {
    const own = this.overlay.get(key);
    if (own) return own;
    const head = this.state.heads.get(key);
    return head && { ref: head.ref, live: !head.deleted, location: head.location, upserted: false };
  }

  private upsert(item: ObservedObject): void {
    const key = refKey(item.ref);
    const seen = this.view(key);
    const head = this.state.heads.get(key);
    let before: UpsertJob["before"] = null;
    let headHash: string | null = null;
    if (seen?.upserted) before = CONTINUE;
    else if (seen?.live && !this.overlay.has(key)) {
      headHash = head?.contentHash ?? null;
      before = this.state.cachedJson(key);
    }
    const location = item.location ?? null;
    this.pending.push({
      kind: "upsert",
      state: this.state,
      location,
      job: {
        key,
        ref: item.ref,
        // The text when the source has it: reading `object` could parse it here.
        object: item.json ?? item.object,
        headHash,
        before,
        actor: item.actor ?? this.attribution.actor,
        cause: item.cause ?? this.attribution.cause,
        observedAt: this.observedAt,
      },
    });
    this.overlay.set(key, { ref: item.ref, live: true, location, upserted: true });
  }

  private remove(ref: Ref, location: Location | null, who: Attribution): void {
    const key = refKey(ref);
    const seen = this.view(key);
    if (!seen?.live) return;
    const at = location ?? seen.location;
    this.pending.push({
      kind: "delete",
      state: this.state,
      key,
      ref,
      who: { location: at, ...who, observedAt: this.observedAt },
    });
    this.overlay.set(key, { ref, live: false, location: at, upserted: false });
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
  private snapshot(items: ObservedObject[], scope: Scope | undefined, keep: Scope[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(refKey(item.ref));
      this.upsert(item);
    }
    this.inferDeletions({ scope, keep, seen });
  }

  private snapshotPage(id: string, items: ObservedObject[]): void {
    // Without its begin (ingest restarted mid-list), the items still count as upserts.
    const open = this.openSnapshots.get(id);
    for (const item of items) {
      open?.seen.add(refKey(item.ref));
      this.upsert(item);
    }
  }

  private snapshotEnd(id: string): void {
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
    this.inferDeletions(open);
  }

  /** What the view does not list, within its scope and outside what it could not read, is gone. */
  private inferDeletions(view: OpenSnapshot): void {
    this.viewedScopes.push(view.scope);
    const keys = new Set([...this.state.heads.keys(), ...this.overlay.keys()]);
    for (const key of keys) {
      const seen = this.view(key);
      if (!seen?.live || view.seen.has(key)) continue;
      const where = seen.location;
      if (!inScope(view.scope, seen.ref, where)) continue;
      if (view.keep.some((k) => inScope(k, seen.ref, where))) continue;
      this.remove(seen.ref, where, this.attribution);
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
    const change: NewChange = { ...blank(type, ref, this.observedAt), location, notice };
    if (problem) {
      change.fingerprint = problem.fingerprint;
      change.problemSlot = problem.slot;
    }
    this.pending.push({ kind: "notice", change });
  }
}
