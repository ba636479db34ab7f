import { parseDocuments } from "../../formats/documents.js";
import { toObservedObjects } from "../../formats/resources.js";
import type { ObservationEvent } from "../../model/observation.js";
import {
  buildView,
  changeEvents,
  emptyView,
  type ResourceRecord,
  snapshotEvents,
  unknownResolved,
  type View,
} from "../files/state.js";
import type { BlobReader } from "./git-cli.js";
import type { TreeEntry } from "./history.js";
import type { RepoPathSelector } from "./paths.js";

export interface TreeOptions {
  source: string;
  selector: RepoPathSelector;
  maxFileBytes: number;
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
    reader: BlobReader,
    full = false,
  ): Promise<ObservationEvent[]> {
    const selected = entries.filter((e) => this.options.selector.selects(e.path));
    const records = new Map(this.records);
    const reread = new Set<string>();
    const blobs = await Promise.all(
      selected.map((e) => (e.blob ? reader.read(e.blob) : Promise.resolve(undefined))),
    );
    for (const [i, entry] of selected.entries()) {
      const blob = blobs[i];
      if (entry.status === "D" || !entry.blob || !blob) {
        records.delete(entry.path);
        continue;
      }
      const record = this.read(entry.path, sha, entry.blob, blob, records.get(entry.path));
      records.set(entry.path, record);
      if (record.readable) reread.add(entry.path);
    }
    const sorted = new Map([...records.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    const view = buildView(sorted.values(), { problems: [], unlisted: [] });
    const before = full ? emptyView() : this.view;
    const snapshot = full || unknownResolved(this.view, view);
    const events = snapshot ? snapshotEvents(before, view) : changeEvents(before, view, reread);
    this.records = sorted;
    this.view = view;
    this.sha = sha;
    return snapshot ? withoutPathKeeps(events) : events;
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
