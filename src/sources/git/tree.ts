import { parseDocuments } from "../../formats/documents.js";
import { toObservedObjects } from "../../formats/resources.js";
import type { ObservationEvent, ObservedObject } from "../../model/observation.js";
import { refKey } from "../../model/ref.js";
import {
  buildView,
  changeEvents,
  emptyView,
  type ResourceRecord,
  snapshotEvents,
  unknownResolved,
  type View,
} from "../files/state.js";
import type { TreeEntry } from "./history.js";
import type { RepoPathSelector } from "./paths.js";

/** One file a commit touched: what it held before and after (absent: no such file). */
interface FileChange {
  path: string;
  before: ResourceRecord | undefined;
  after?: ResourceRecord;
}

export interface TreeOptions {
  source: string;
  selector: RepoPathSelector;
  maxFileBytes: number;
  /** Always rebuild the whole view (tests compare the two ways). */
  alwaysRebuild?: boolean;
}

/** Where blobs come from (a `git cat-file --batch`). */
export interface BlobSource {
  read(sha: string): Promise<Buffer | undefined>;
}

/**
 * The source's picture of the branch at one commit: each selected file's resources and
 * problems, and the view worked out from them with the files source's own rules (the first
 * definition in path order wins, a duplicate or an unreadable file is a problem, an
 * unreadable file keeps what it held).
 */
export class TreeState {
  /** The commit this picture is of; undefined for the empty tree before the first commit. */
  sha: string | undefined;
  private records = new Map<string, ResourceRecord>();
  private view: View = emptyView();

  constructor(private readonly options: TreeOptions) {}

  /** Forgets everything: the next `apply` starts from an empty tree. */
  reset(): void {
    this.sha = undefined;
    this.records = new Map();
    this.view = emptyView();
  }

  /**
   * Moves the picture to commit `sha` by the files that differ, and returns the events that
   * take the log there. `full` (a fresh picture) gives one snapshot instead of changes.
   */
  async apply(
    sha: string,
    entries: TreeEntry[],
    reader: BlobSource,
    full = false,
  ): Promise<ObservationEvent[]> {
    const selected = entries.filter((e) => this.options.selector.selects(e.path));
    const blobs = await Promise.all(
      selected.map((e) => (e.blob ? reader.read(e.blob) : Promise.resolve(undefined))),
    );
    // Changed in place: should the emit fail, `sha` no longer matches the source's position
    // and the source rebuilds the picture from the recorded commit.
    this.sha = undefined;
    const records = this.records;
    const changed: FileChange[] = [];
    let added = false;
    for (const [i, entry] of selected.entries()) {
      const blob = blobs[i];
      const before = records.get(entry.path);
      if (entry.status === "D" || !entry.blob || !blob) {
        records.delete(entry.path);
        changed.push({ path: entry.path, before });
        continue;
      }
      added ||= before === undefined;
      const after = this.read(entry.path, sha, entry.blob, blob, before);
      records.set(entry.path, after);
      changed.push({ path: entry.path, before, after });
    }
    // The view wants path order (the first definition wins); only a new path can break it.
    if (added) this.records = new Map([...records].sort(([a], [b]) => (a < b ? -1 : 1)));
    const quick = full || this.options.alwaysRebuild ? undefined : this.incremental(changed);
    const events = quick ?? this.rebuild(changed, full);
    this.sha = sha;
    return events;
  }

  /** The files source's way: the whole view again, compared with the last one. */
  private rebuild(changed: FileChange[], full: boolean): ObservationEvent[] {
    const reread = new Set(changed.filter((c) => c.after?.readable).map((c) => c.path));
    const view = buildView(this.records.values(), { problems: [], unlisted: [] });
    const before = full ? emptyView() : this.view;
    const snapshot = full || unknownResolved(this.view, view);
    const events = snapshot ? snapshotEvents(before, view) : changeEvents(before, view, reread);
    this.view = view;
    return snapshot ? withoutPathKeeps(events) : events;
  }

  /**
   * The same events as `rebuild` when nothing is wrong before or after (no problem, no
   * duplicate, every changed file readable), in time proportional to the change rather than
   * to the tree: a history of thousands of commits would otherwise rebuild the view each time.
   * Anything else returns undefined and takes the full way.
   */
  private incremental(changed: FileChange[]): ObservationEvent[] | undefined {
    const winners = this.view.winners;
    if (this.view.problems.size > 0) return undefined;
    const released = new Map<string, ObservedObject>();
    for (const { path, before } of changed) {
      for (const item of before?.items ?? []) {
        const key = refKey(item.ref);
        if (winners.get(key)?.absPath === path) released.set(key, item);
      }
    }
    const claims = new Map<string, { item: ObservedObject; absPath: string }>();
    for (const { path, after } of changed) {
      if (!after) continue;
      if (!after.readable || after.problems.length > 0) return undefined;
      for (const item of after.items) {
        const key = refKey(item.ref);
        const holder = winners.get(key);
        if (claims.has(key) || (holder && holder.absPath !== path && !released.has(key))) {
          return undefined; // a duplicate: the full view decides who wins and reports it
        }
        claims.set(key, { item, absPath: path });
      }
    }
    const events: ObservationEvent[] = [];
    for (const [key, claim] of claims) {
      winners.set(key, claim);
      events.push({ type: "upsert", item: claim.item });
    }
    for (const [key, item] of released) {
      if (claims.has(key)) continue;
      winners.delete(key);
      events.push({
        type: "delete",
        ref: item.ref,
        ...(item.location && { location: item.location }),
      });
    }
    return events;
  }

  /** The items of one file at one commit, parsed by the same code as the files source. */
  private read(
    path: string,
    sha: string,
    blobSha: string,
    bytes: Buffer,
    before: ResourceRecord | undefined,
  ): ResourceRecord {
    const { source, maxFileBytes } = this.options;
    // Unchanged bytes (a revert, a file moved back) need no second parse.
    if (before?.readable && before.contentHash === blobSha) return before;
    const location = `${path}@${sha}`;
    const parsed = parseDocuments(bytes, location, { maxBytes: maxFileBytes });
    if (parsed.problems.length > 0) {
      return {
        absPath: path,
        relPath: path,
        items: before?.items ?? [],
        problems: parsed.problems,
        readable: false,
        known: before?.known ?? false,
        ...(before?.contentHash !== undefined && { contentHash: before.contentHash }),
      };
    }
    const { items, problems } = toObservedObjects(source, path, location, parsed.documents);
    return {
      absPath: path,
      relPath: path,
      items,
      problems,
      readable: true,
      known: true,
      contentHash: blobSha,
    };
  }
}

/**
 * The files view keeps unreadable files by path prefix; here stored locations carry the
 * commit (`path@sha`), so such a prefix would match nothing. What an unreadable file held is
 * in the snapshot's items already (the record keeps it), so nothing is lost by dropping it.
 */
function withoutPathKeeps(events: ObservationEvent[]): ObservationEvent[] {
  return events.map((e) => (e.type === "snapshot" ? { ...e, keep: [] } : e));
}
