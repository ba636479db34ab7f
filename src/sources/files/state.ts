import { sha256Hex, stableStringify } from "../../core/stable-json.js";
import type { ObservationEvent, ObservedObject, SourceProblem } from "../../model/observation.js";
import { formatRef, refKey } from "../../model/ref.js";
import { itemKey } from "./packed.js";
import type { FileSignature } from "./scan.js";

/**
 * What a source remembers of one file between reads. `absPath` is the file's identity (the
 * git source, which reuses this view logic, uses the path within the repository).
 */
export interface ResourceRecord {
  absPath: string;
  relPath: string;
  /** Items of the last good read; kept while the file is unreadable. */
  items: ObservedObject[];
  /** Problems of the last read (duplicates are worked out across files, not stored here). */
  problems: SourceProblem[];
  /** False while the last read failed. */
  readable: boolean;
  /** True once a read succeeded, so that `items` says what the file holds or last held. */
  known: boolean;
  /** sha256 of the bytes of the last good read. */
  contentHash?: string;
}

/** A file source's record: the file's signature tells a change without reading it. */
export interface FileRecord extends ResourceRecord {
  signature: FileSignature;
}

/** What could not be listed this time, from the walk. */
export interface ScanOutcome {
  problems: SourceProblem[];
  unlisted: string[];
}

/** The source's current picture, worked out from the file records. */
export interface View {
  /** refKey → the item that defines it and its file; the first file in path order wins. */
  winners: Map<string, { item: ObservedObject; absPath: string }>;
  /** problemKey → problem, for every problem that holds now. */
  problems: Map<string, SourceProblem>;
  /** Locations whose absence proves nothing: unreadable files, unlisted directories, missing roots. */
  keep: string[];
  /** Locations whose contents were never seen: files never read, unlisted places. */
  unknown: Set<string>;
}

export function emptyView(): View {
  return { winners: new Map(), problems: new Map(), keep: [], unknown: new Set() };
}

/** `records` must iterate in sorted path order: it decides which of two definitions wins. */
export function buildView(records: Iterable<ResourceRecord>, scan: ScanOutcome): View {
  const view = emptyView();
  const keep = new Set(scan.unlisted);
  for (const path of scan.unlisted) view.unknown.add(path);
  for (const problem of scan.problems) addProblem(view, problem);
  for (const record of records) {
    if (!record.readable) keep.add(record.absPath);
    if (!record.known) view.unknown.add(record.absPath);
    for (const problem of record.problems) addProblem(view, problem);
    for (const item of record.items) claim(view, item, record.absPath);
  }
  view.keep = [...keep].sort();
  return view;
}

function claim(view: View, item: ObservedObject, absPath: string): void {
  // The files source's items carry their key (packed.ts); the Git source's do not.
  const key = itemKey(item);
  const winner = view.winners.get(key);
  if (!winner) {
    view.winners.set(key, { item, absPath });
    return;
  }
  addProblem(view, duplicate(item, absPath, winner));
}

function duplicate(
  item: ObservedObject,
  absPath: string,
  winner: { item: ObservedObject; absPath: string },
): SourceProblem {
  const where =
    winner.absPath === absPath
      ? `twice in ${absPath} (documents ${winner.item.location?.document} and ${item.location?.document})`
      : `in both ${winner.absPath} and ${absPath}`;
  const seed = `${winner.absPath}\0${absPath}\0${refKey(item.ref)}\0${stableStringify(item.object)}`;
  return {
    code: "CRW_DUPLICATE_RESOURCE",
    message: `${formatRef(item.ref)} is defined ${where}; the first in path order is used, this one is ignored`,
    location: item.location ?? { path: absPath },
    fingerprint: `${sha256Hex(seed)}:CRW_DUPLICATE_RESOURCE`,
  };
}

function addProblem(view: View, problem: SourceProblem): void {
  view.problems.set(problemKey(problem), problem);
}

function problemKey(problem: SourceProblem): string {
  const { path, line, document, field } = problem.location;
  return JSON.stringify([problem.code, problem.fingerprint, path, line, document, field]);
}

/** True when a place whose contents were never seen can be seen now (or is gone for good). */
export function unknownResolved(before: View, after: View): boolean {
  for (const path of before.unknown) if (!after.unknown.has(path)) return true;
  return false;
}

/**
 * The full picture, for start and for when an unknown place becomes known: only a snapshot
 * can delete what an earlier run stored from there.
 */
export function snapshotEvents(before: View, after: View): ObservationEvent[] {
  const items = [...after.winners.values()].map((w) => w.item);
  const keep = after.keep.map((path) => ({ locationPrefix: path }));
  return [{ type: "snapshot", items, keep }, ...problemEvents(before, after)];
}

/**
 * What changed between two pictures. `reread` holds the files whose content changed: their
 * items are upserted (ingest drops what is equal). A ref is deleted only when no file
 * defines it any more, so a resource moved to another file is an upsert, not a delete.
 */
export function changeEvents(before: View, after: View, reread: Set<string>): ObservationEvent[] {
  const events: ObservationEvent[] = [];
  for (const [key, winner] of after.winners) {
    if (reread.has(winner.absPath) || before.winners.get(key)?.absPath !== winner.absPath) {
      events.push({ type: "upsert", item: winner.item });
    }
  }
  for (const [key, { item }] of before.winners) {
    if (after.winners.has(key)) continue;
    events.push({
      type: "delete",
      ref: item.ref,
      ...(item.location && { location: item.location }),
    });
  }
  return [...events, ...problemEvents(before, after)];
}

function problemEvents(before: View, after: View): ObservationEvent[] {
  const events: ObservationEvent[] = [];
  for (const [key, problem] of after.problems) {
    if (!before.problems.has(key)) events.push({ type: "problem", problem });
  }
  const stillBad = new Set([...after.problems.values()].map((p) => p.location.path));
  const recovered = new Set<string>();
  for (const problem of before.problems.values()) {
    if (!stillBad.has(problem.location.path)) recovered.add(problem.location.path);
  }
  for (const location of [...recovered].sort()) events.push({ type: "recovered", location });
  return events;
}
