import type { ParsedFile, ParseFileRequest } from "../../formats/parse-file.js";
import { type ParsePool, sharedParsePool } from "../../formats/parse-pool.js";
import { type ObservationEvent, type ObservedObject, withFields } from "../../model/observation.js";
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
  /** How a blob is parsed; default: the process's parse pool (parse-pool.ts). */
  parse?: (request: ParseFileRequest, signal?: AbortSignal) => Promise<ParsedFile>;
  /** Bytes of blobs whose parse is kept for a blob seen again (a revert, a rewrite). */
  maxCachedBlobBytes?: number;
}

/** Where blobs come from (a `git cat-file --batch`). */
export interface BlobSource {
  read(sha: string): Promise<Buffer | undefined>;
}

/** The parsed files of one commit's entries, by path (absent: the blob was missing). */
export type PreparedFiles = Promise<Map<string, ParsedFile>> & {
  /** Set once the parses are in, so a caller can go on without awaiting. */
  settled?: Map<string, ParsedFile>;
};

/** A parse kept by blob sha: what it read at `path` in commit `sha`. */
interface CachedParse {
  path: string;
  sha: string;
  bytes: number;
  result: Promise<ParsedFile | undefined>;
}

const DEFAULT_CACHED_BLOB_BYTES = 4 * 1024 * 1024;

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
  /** Parses by blob sha, oldest first (a Map keeps insertion order: LRU by re-insertion). */
  private readonly parses = new Map<string, CachedParse>();
  private cachedBytes = 0;
  private readonly parse: NonNullable<TreeOptions["parse"]>;

  private readonly pool: ParsePool | undefined;

  constructor(private readonly options: TreeOptions) {
    const pool = options.parse ? undefined : sharedParsePool();
    this.pool = pool;
    this.parse = options.parse ?? ((request, signal) => pool!.parse(request, signal));
  }

  /** Gets the parse workers going while the caller fetches (ParsePool.warm). */
  warm(): void {
    this.pool?.warm();
  }

  /**
   * Starts reading and parsing the blobs a commit's entries point at, so several commits can
   * be in the works while earlier ones are applied. Order does not matter here: `apply` takes
   * the results by path.
   */
  prepare(
    sha: string,
    entries: TreeEntry[],
    reader: BlobSource,
    signal?: AbortSignal,
  ): PreparedFiles {
    const wanted = entries.filter(
      (e) => e.blob && e.status !== "D" && this.options.selector.selects(e.path),
    );
    const prepared: PreparedFiles = Promise.all(
      wanted.map(
        async (e) => [e.path, await this.parsed(e.path, sha, e.blob!, reader, signal)] as const,
      ),
    ).then((pairs) => {
      const files = new Map<string, ParsedFile>();
      for (const [path, parsed] of pairs) if (parsed) files.set(path, parsed);
      prepared.settled = files;
      return files;
    });
    // Whoever drops a prepared commit (a stop, a diff taken another way) must not see it fail.
    prepared.catch(() => undefined);
    return prepared;
  }

  /** A blob's parse at `path` in commit `sha`: from the cache, or read and parsed. */
  private parsed(
    path: string,
    sha: string,
    blob: string,
    reader: BlobSource,
    signal: AbortSignal | undefined,
  ): Promise<ParsedFile | undefined> {
    const cached = this.parses.get(blob);
    if (cached?.path === path) {
      this.parses.delete(blob);
      this.parses.set(blob, cached);
      if (cached.sha === sha) return cached.result;
      return cached.result.then(
        (r) => relocated(r, path, cached.sha, sha) ?? this.fresh(path, sha, blob, reader, signal),
      );
    }
    return this.fresh(path, sha, blob, reader, signal);
  }

  private fresh(
    path: string,
    sha: string,
    blob: string,
    reader: BlobSource,
    signal: AbortSignal | undefined,
  ): Promise<ParsedFile | undefined> {
    const entry: CachedParse = { path, sha, bytes: 0, result: Promise.resolve(undefined) };
    entry.result = (async () => {
      const bytes = await reader.read(blob);
      if (!bytes) {
        if (this.parses.get(blob) === entry) this.parses.delete(blob);
        return undefined;
      }
      const { source, maxFileBytes } = this.options;
      const request = {
        bytes,
        source,
        location: `${path}@${sha}`,
        relPath: path,
        maxBytes: maxFileBytes,
      };
      const parsed = await this.parse(request, signal);
      entry.bytes = bytes.length;
      this.cachedBytes += bytes.length;
      this.evict();
      return parsed;
    })();
    this.parses.delete(blob);
    this.parses.set(blob, entry);
    // A failed read or an aborted parse is not kept: the next look tries again.
    entry.result.catch(() => {
      if (this.parses.get(blob) === entry) this.parses.delete(blob);
    });
    return entry.result;
  }

  private evict(): void {
    const max = this.options.maxCachedBlobBytes ?? DEFAULT_CACHED_BLOB_BYTES;
    for (const [blob, entry] of this.parses) {
      if (this.cachedBytes <= max) return;
      if (entry.bytes === 0) continue; // still in the works
      this.parses.delete(blob);
      this.cachedBytes -= entry.bytes;
    }
  }

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
    prepared?: PreparedFiles,
    signal?: AbortSignal,
  ): Promise<ObservationEvent[]> {
    const selected = entries.filter((e) => this.options.selector.selects(e.path));
    const files = await (prepared ?? this.prepare(sha, selected, reader, signal));
    return this.applyParsed(sha, entries, files, full);
  }

  /** `apply` once the commit's files are parsed: no await, so several commits go in a row. */
  applyParsed(
    sha: string,
    entries: TreeEntry[],
    files: Map<string, ParsedFile>,
    full = false,
  ): ObservationEvent[] {
    const selected = entries.filter((e) => this.options.selector.selects(e.path));
    // Changed in place: should the emit fail, `sha` no longer matches the source's position
    // and the source rebuilds the picture from the recorded commit.
    this.sha = undefined;
    const records = this.records;
    const changed: FileChange[] = [];
    let added = false;
    for (const entry of selected) {
      const parsed = files.get(entry.path);
      const before = records.get(entry.path);
      if (entry.status === "D" || !entry.blob || !parsed) {
        records.delete(entry.path);
        changed.push({ path: entry.path, before });
        continue;
      }
      added ||= before === undefined;
      const after = this.read(entry.path, entry.blob, parsed, before);
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

  /** The record of one file at one commit, from its parse (the files source's code). */
  private read(
    path: string,
    blobSha: string,
    parsed: ParsedFile,
    before: ResourceRecord | undefined,
  ): ResourceRecord {
    // Unchanged bytes (a revert, a file moved back) keep what was read before.
    if (before?.readable && before.contentHash === blobSha) return before;
    if (parsed.status === "unreadable") {
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
    return {
      absPath: path,
      relPath: path,
      items: parsed.items,
      problems: parsed.problems,
      readable: true,
      known: true,
      contentHash: blobSha,
    };
  }
}

/**
 * A parse made at `path@from` as it reads at `path@to`: only locations name the commit.
 * A document that is not a mapping names it in its fingerprint too, so a parse with such
 * problems is not reused: undefined, and the blob is parsed again.
 */
function relocated(
  parsed: ParsedFile | undefined,
  path: string,
  from: string,
  to: string,
): ParsedFile | undefined {
  if (!parsed || (parsed.status === "read" && parsed.problems.length > 0)) return undefined;
  const fromPath = `${path}@${from}`;
  const toPath = `${path}@${to}`;
  const move = <L extends { path: string }>(location: L): L =>
    location.path === fromPath ? { ...location, path: toPath } : location;
  if (parsed.status === "unreadable") {
    return {
      ...parsed,
      problems: parsed.problems.map((p) => ({ ...p, location: move(p.location) })),
    };
  }
  const items = parsed.items.map((item) =>
    item.location ? withFields(item, { location: move(item.location) }) : item,
  );
  return { ...parsed, items };
}

/**
 * The files view keeps unreadable files by path prefix; here stored locations carry the
 * commit (`path@sha`), so such a prefix would match nothing. What an unreadable file held is
 * in the snapshot's items already (the record keeps it), so nothing is lost by dropping it.
 */
function withoutPathKeeps(events: ObservationEvent[]): ObservationEvent[] {
  return events.map((e) => (e.type === "snapshot" ? { ...e, keep: [] } : e));
}
