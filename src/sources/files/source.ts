import { createHash } from "node:crypto";
import type { TimerHandle } from "../../core/clock.js";
import { errorMessage } from "../../model/errors.js";
import { DEFAULT_STREAM, type ObservationEvent } from "../../model/observation.js";
import type { Emitted, Source, SourceContext } from "../source.js";
import { BlindRecheck, blindPlaces, keepBlindRecords } from "./blind.js";
import {
  type FilesSourceConfig,
  type ResolvedFilesSourceConfig,
  withFilesDefaults,
} from "./config.js";
import { DirWatcher } from "./dir-watch.js";
import { lookAt } from "./look-at.js";
import { pack, unpackEvents } from "./packed.js";
import { type ReadOutcome, type ReadRequest, readResourceFile } from "./read.js";
import { type CacheTexts, loadReadCache, saveReadCache } from "./read-cache.js";
import {
  errnoOf,
  FileSelector,
  type FileSignature,
  type FoundFile,
  type ScanResult,
  scan,
  watchTargets,
} from "./scan.js";
import {
  buildView,
  changeEvents,
  emptyView,
  type FileRecord,
  snapshotEvents,
  unknownResolved,
  type View,
} from "./state.js";

/** Knobs tests turn; production uses the defaults. */
export interface FilesSourceTuning {
  /** Longest a stream of events can hold a batch back. */
  maxWaitMs?: number;
  /** Delay before walking again after a walk failed. */
  retryDelayMs?: number;
  /** Files read at once. */
  readConcurrency?: number;
  /** A full walk this often, to catch what the watcher may have missed without an error. */
  fullWalkIntervalMs?: number;
  /** First wait before walking again while a directory cannot be listed (it doubles). */
  blindRecheckMinMs?: number;
  /** Longest wait between those walks. */
  blindRecheckMaxMs?: number;
  /**
   * After the first full view, a file at least this big is parsed while later batches go
   * on: other files' changes do not wait for it, and it is emitted once parsed.
   */
  backgroundParseBytes?: number;
  /** How files are parsed; default the process's parse pool (tests slow one file down). */
  parse?: ReadRequest["parse"];
  /**
   * A snapshot of more items than this goes out as a paged snapshot, one observation per
   * page: ingest builds and commits a page at a time instead of the whole tree at once.
   */
  snapshotPageItems?: number;
}

/** A big file being parsed while batches go on, for the signature it was read at. */
interface BackgroundRead {
  signature: FileSignature;
  controller: AbortController;
  outcome?: ReadOutcome;
}

/** A parse slower than this is logged at info level (debug otherwise). */
const SLOW_PARSE_MS = 1000;

const PROGRESS_INTERVAL_MS = 2000;

/**
 * Watcher errors about one path (a link loop, a file gone or unreadable): the walk reports
 * them itself. Any other error (ENOSPC from the inotify limit, EMFILE …) may lose events.
 */
const PATH_ERRORS = new Set(["ELOOP", "ENOENT", "EACCES", "EPERM", "ENOTDIR"]);

type BatchTrigger = "initial" | "timer" | "flush" | "gap" | "periodic" | "recheck";

type Tuning = Required<Omit<FilesSourceTuning, "parse">> & Pick<FilesSourceTuning, "parse">;

const DEFAULT_TUNING: Tuning = {
  maxWaitMs: 1000,
  retryDelayMs: 500,
  readConcurrency: 8,
  fullWalkIntervalMs: 5 * 60_000,
  blindRecheckMinMs: 2000,
  blindRecheckMaxMs: 60_000,
  backgroundParseBytes: 1024 * 1024,
  snapshotPageItems: 500,
};

/**
 * `workDir`, when given, keeps what was read (read-cache.ts) so that a restart re-reads only
 * the files that changed meanwhile. `stateKey` names everything outside the files that
 * decides what ingest records of them (mask keys, canonicalization): it is part of the
 * cursor, so a restart with other settings takes the full snapshot again.
 */
export function createFilesSource(
  config: FilesSourceConfig,
  tuning: FilesSourceTuning = {},
  workDir?: string,
  stateKey = "",
): Source {
  return new FilesSource(
    withFilesDefaults(config),
    { ...DEFAULT_TUNING, ...tuning },
    workDir,
    stateKey,
  );
}

/**
 * Watches files and directories. A batch starts a fixed debounceMs after the first event of
 * a burst (events that arrive meanwhile join it) and looks only at the paths the events
 * named when they are plain files (see look-at.ts). Start-up, flush, a watcher error, a
 * periodic check, and every odd case (a directory or symlink named, a `..data` swap, a
 * problem or unknown place outstanding) walk the roots again and re-read the files whose
 * signature (inode, size, times) moved, so a missed or odd event cannot leave the picture
 * wrong.
 *
 * The cursor is a short hash over the state key and (path, mtimeMs, size) of the files
 * read, committed with the observation that makes the store hold that view. A start whose
 * walk finds the cursor the store holds and reads no file (every signature matches the read
 * cache) emits nothing: the store holds that view already. Any other start emits a snapshot.
 */
class FilesSource implements Source {
  readonly name: string;
  readonly type = "files";
  private readonly selector: FileSelector;
  private ctx: SourceContext | undefined;
  private watcher: DirWatcher | undefined;
  private records = new Map<string, FileRecord>();
  private view: View = emptyView();
  private dirty = new Set<string>();
  private timer: TimerHandle | undefined;
  /** Batches run one after another, emit included, so two are never in flight. */
  private work: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Why the watcher may have missed events, until a full rescan has been emitted. */
  private pendingGap: string | undefined;
  /** The last walk, brought up to date by each batch that looked at named paths only. */
  private lastScan: ScanResult | undefined;
  private periodic: TimerHandle | undefined;
  /** Directories that could not be listed: walked again on a timer until they can be. */
  private blind: BlindRecheck;
  private recheck: TimerHandle | undefined;
  /** Aborts the parses of this run when it stops (a stop never waits for a big parse). */
  private stopping = new AbortController();
  /** Big files parsed while batches go on, by path. */
  private readonly background = new Map<string, BackgroundRead>();
  /** The first full view is emitted: from then on big files parse in the background. */
  private initialDone = false;
  /**
   * The records the read cache holds (loaded or saved): while every record is the same
   * object, nothing was read again and the cache is not written again. Compared by
   * identity: hashing every record's path and signature cost two passes over the tree.
   */
  private cachedRecords: Map<string, FileRecord> | undefined;
  /** Where the texts of the items loaded from the read cache are read from. */
  private cacheTexts: CacheTexts | undefined;

  constructor(
    private readonly config: ResolvedFilesSourceConfig,
    private readonly tuning: Tuning,
    private readonly workDir?: string,
    private readonly stateKey = "",
  ) {
    this.name = config.name;
    this.selector = new FileSelector(config);
    this.blind = new BlindRecheck(tuning.blindRecheckMinMs, tuning.blindRecheckMaxMs);
  }

  /**
   * Watches until the signal aborts. The runtime flushes before it aborts, so what was
   * pending in the debounce is emitted; then the watcher is released and the run returns.
   */
  async run(ctx: SourceContext, signal: AbortSignal): Promise<void> {
    this.ctx = ctx;
    this.stopped = false;
    this.initialDone = false;
    const stopping = new AbortController();
    this.stopping = stopping;
    // A stop aborts the parses in flight at once, even those of the first full view.
    signal.addEventListener("abort", () => stopping.abort(), { once: true });
    // Last run's reads: the start-up walk re-reads only files whose signature moved.
    this.cacheTexts?.close();
    const cache = this.workDir
      ? await loadReadCache(this.workDir, this.name, (err) =>
          ctx.log.warn({ err }, "files read cache unusable; reading every file"),
        )
      : { records: new Map<string, FileRecord>() };
    this.records = cache.records;
    this.cacheTexts = cache.texts;
    this.cachedRecords = this.records.size > 0 ? this.records : undefined;
    this.view = emptyView();
    this.lastScan = undefined;
    this.blind = new BlindRecheck(this.tuning.blindRecheckMinMs, this.tuning.blindRecheckMaxMs);
    try {
      // The walk watches each directory before it lists it: nothing changes unseen.
      await this.startWatcher();
      await this.enqueueBatch("initial");
      this.initialDone = true;
      await this.saveReadCache();
      this.reportMissingRoots();
      this.armPeriodicWalk();
      ctx.ready();
      await new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    } finally {
      await this.release();
    }
  }

  /** Walks now even if no event has arrived yet: the watcher may lag behind the disk. */
  async flush(): Promise<void> {
    // Before the first view is out there is nothing to flush (the next start reads it all
    // again), and a big first read must not hold a stop back.
    if (!this.ctx || this.stopped || !this.initialDone) return;
    this.clearTimer();
    await this.enqueueBatch("flush");
  }

  private armPeriodicWalk(): void {
    const clock = this.ctx!.clock;
    this.periodic = clock.setTimeout(() => {
      this.enqueueBatch("periodic")
        .catch((err) => this.ctx?.log.error({ err }, "periodic walk failed"))
        .finally(() => {
          if (!this.stopped) this.armPeriodicWalk();
        });
    }, this.tuning.fullWalkIntervalMs);
  }

  private async release(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.background.clear();
    this.clearTimer();
    this.ctx?.clock.clearTimeout(this.periodic);
    this.ctx?.clock.clearTimeout(this.recheck);
    this.watcher?.close();
    this.watcher = undefined;
    await this.work;
    await this.saveReadCache();
    // The records' texts are read from it until here (the save above reads them).
    this.cacheTexts?.close();
    this.cacheTexts = undefined;
  }

  /** Never fails the source: without a cache the next start reads every file. */
  private async saveReadCache(): Promise<void> {
    if (!this.workDir || !this.lastScan) return;
    // The same records: what the cache holds (a restart with nothing changed does not
    // write the whole tree's items again).
    const records = this.records;
    if (this.cachedRecords && sameRecords(records, this.cachedRecords)) return;
    const keep = (r: FileRecord) => r.readable && r.known && !r.problems.some(isTransient);
    try {
      await saveReadCache(this.workDir, this.name, records.values(), keep);
      this.cachedRecords = records;
    } catch (err) {
      this.ctx?.log.warn({ err }, "could not save the files read cache; the next start reads all");
    }
  }

  /**
   * The roots' parents (a root made, removed or renamed) are watched from here on; each
   * walk watches what it lists (dir-watch.ts).
   */
  private async startWatcher(): Promise<void> {
    this.watcher = new DirWatcher(
      // Siblings of a root are heard in its parent's directory: they are no concern.
      (path) => {
        if (this.selector.watches(path)) this.touch(path);
      },
      (err) => this.onWatcherError(err),
    );
    for (const target of await watchTargets(this.selector)) this.watcher.add(target);
  }

  /**
   * A full walk, watching what it lists as it goes; then the watcher drops what the walk
   * no longer lists (a directory removed, a root's parent that is not one any more).
   */
  private async walkAndWatch(): Promise<ScanResult> {
    const targets = await watchTargets(this.selector);
    for (const target of targets) this.watcher?.add(target);
    const found = await scan(this.selector, (path, file) => this.watcher?.add(path, file));
    const { dirs, files } = found.watched ?? { dirs: [], files: [] };
    this.watcher?.keepOnly([...targets, ...dirs], files);
    return found;
  }

  /**
   * A watcher error (inotify limit reached, a watched directory gone) may have lost events:
   * say so with a GAP entry and take a full view, so the log shows the changes that follow
   * were inferred, and deletions are found again.
   */
  private onWatcherError(err: unknown): void {
    const code = errnoOf(err);
    if (code !== undefined && PATH_ERRORS.has(code)) {
      // About one path, which the walk reports as a problem of its own; no event was lost.
      this.ctx?.log.debug({ err }, "file watcher could not follow a path");
      return;
    }
    this.ctx?.log.warn({ err }, "file watcher error; rescanning everything");
    this.pendingGap ??= errorMessage(err);
    this.enqueueBatch("gap").catch((e) =>
      this.ctx?.log.error({ err: e }, "rescan after watcher error failed"),
    );
  }

  private reportMissingRoots(): void {
    for (const problem of this.view.problems.values()) {
      if (problem.code !== "CRW_PATH_MISSING") continue;
      const fields = { path: problem.location.path };
      if (this.config.waitForPaths)
        this.ctx?.log.info(fields, "waiting for watched path to appear");
      else this.ctx?.log.warn(fields, "watched path does not exist; watching for it to appear");
    }
  }

  /**
   * The first event of a burst arms one timer, debounceMs (at most maxWaitMs) ahead; later
   * events join the batch without moving it, so a steady stream of edits cannot hold the
   * batch back (a quiet-time debounce would wait for its ceiling every time).
   */
  private touch(path: string): void {
    if (this.stopped) return;
    this.dirty.add(path);
    if (this.timer !== undefined) return;
    const delay = Math.min(this.config.debounceMs, this.tuning.maxWaitMs);
    this.timer = this.ctx!.clock.setTimeout(() => this.onTimer(), delay);
  }

  private onTimer(): void {
    this.clearTimer();
    this.enqueueBatch("timer").catch((err) => {
      // A stop aborts the parses of a running batch; that is no failure.
      if (!this.stopped) this.ctx?.log.error({ err }, "file batch failed");
    });
  }

  private clearTimer(): void {
    this.ctx?.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private enqueueBatch(trigger: BatchTrigger): Promise<void> {
    const run = this.work.then(() => this.runBatch(trigger));
    this.work = run.catch(() => undefined);
    return run;
  }

  private async runBatch(trigger: BatchTrigger): Promise<void> {
    if (this.stopped || (trigger === "timer" && this.dirty.size === 0)) return;
    const gap = this.pendingGap;
    this.pendingGap = undefined;
    const initial = trigger === "initial";
    const dirty = this.dirty;
    this.dirty = new Set();
    try {
      const walk = trigger !== "timer" || gap !== undefined;
      const { records, view, events, found, reads } = await this.observe(
        initial || gap !== undefined,
        walk,
        dirty,
      );
      if (gap !== undefined)
        events.unshift({
          type: "gap",
          code: "CRW_WATCHER_FAILED",
          reason: "file watcher failed; what follows comes from a full rescan",
          detail: gap,
        });
      const stored = initial && gap === undefined && reads === 0 && this.holdsView(records, view);
      if (stored) this.ctx?.log.info({ files: records.size }, "nothing changed since the last run");
      else if (events.length > 0) await this.emitPaged(records, events);
      this.records = records;
      this.view = view;
      this.lastScan = found;
      this.followBlindPlaces(found);
    } catch (err) {
      // Nothing is dropped: the paths (and the gap) go back and the batch is tried again.
      for (const path of dirty) this.dirty.add(path);
      this.pendingGap ??= gap;
      if (!initial && !this.stopped) this.retryLater();
      throw err;
    }
  }

  /**
   * The watcher drops a directory it cannot list and hears nothing when it becomes
   * readable again: while one is blind, walk again on a timer; once it can be listed, hand
   * it back to the watcher.
   */
  private followBlindPlaces(found: ScanResult): void {
    const recovered = this.blind.update(blindPlaces(found));
    if (recovered.length > 0) {
      this.ctx?.log.info({ paths: recovered }, "directories can be listed again; watching them");
      for (const path of recovered) this.watcher?.add(path);
    }
    if (this.recheck !== undefined || this.stopped) return;
    const delay = this.blind.nextDelay();
    if (delay === undefined) return;
    this.recheck = this.ctx!.clock.setTimeout(() => {
      this.recheck = undefined;
      this.enqueueBatch("recheck").catch((err) =>
        this.ctx?.log.error({ err }, "walk of an unreadable directory failed"),
      );
    }, delay);
  }

  /**
   * Whether the store already holds the view of `records`: its cursor for this source is
   * theirs, and nothing in the view is kept or unknown (only a snapshot settles those).
   */
  private holdsView(records: Map<string, FileRecord>, view: View): boolean {
    if (view.keep.length > 0 || view.unknown.size > 0) return false;
    return this.ctx?.cursors[DEFAULT_STREAM] === cursorOf(records, this.stateKey);
  }

  /**
   * Emits the events; a big snapshot as a paged one, a page per observation, each committed
   * before the next is built. Only the last carries the cursor: a run stopped halfway
   * leaves the old one, and the next start begins the snapshot again.
   */
  private async emitPaged(records: Map<string, FileRecord>, events: ObservationEvent[]) {
    const parts = pageSnapshot(events, this.tuning.snapshotPageItems, `${this.name}:view`);
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      // Objects are parsed here, a page at a time: ingest drops them once it committed.
      const events = unpackEvents(part);
      await this.ctx!.emit(last ? this.observation(records, events) : { events });
    }
  }

  private retryLater(): void {
    this.timer ??= this.ctx!.clock.setTimeout(() => this.onTimer(), this.tuning.retryDelayMs);
  }

  /** Walks (or looks at the named paths), reads what changed, works out the events; touches no state. */
  private async observe(
    snapshot: boolean,
    walk: boolean,
    dirty: Set<string>,
  ): Promise<{
    records: Map<string, FileRecord>;
    view: View;
    events: ObservationEvent[];
    found: ScanResult;
    /** Files read (parsed or found unreadable) for this view. */
    reads: number;
  }> {
    const last = walk ? undefined : this.lookAtBase();
    const looked = last && (await lookAt(this.selector, last, dirty));
    const found = looked ?? (await this.walkAndWatch());
    if (!looked) this.dropBackgroundReadsOfGoneFiles(found);
    const toRead = found.files.filter((file) =>
      needsRead(this.records.get(file.absPath), file, dirty),
    );
    this.ctx?.log.debug({ read: toRead.length, files: found.files.length }, "reading files");
    const progress = this.progress(toRead.length);
    const outcomes = await mapLimit(toRead, this.tuning.readConcurrency, async (file) => {
      const outcome = await this.readFile(file);
      progress();
      return outcome;
    });
    const fresh = new Map(toRead.map((file, i) => [file.absPath, outcomes[i]!]));
    const records = new Map<string, FileRecord>();
    const reread = new Set<string>();
    for (const file of found.files) {
      const before = this.records.get(file.absPath);
      const outcome = fresh.get(file.absPath);
      const record = outcome ? nextRecord(file, before, outcome) : before;
      if (!record) continue;
      records.set(file.absPath, record);
      if (
        outcome !== undefined &&
        outcome !== "pending" &&
        outcome.status === "read" &&
        before?.contentHash !== record.contentHash
      ) {
        reread.add(file.absPath);
      }
    }
    const kept = keepBlindRecords(records, this.records, blindPlaces(found));
    const view = buildView(kept.values(), found);
    const asSnapshot = snapshot || unknownResolved(this.view, view);
    const events = asSnapshot
      ? snapshotEvents(this.view, view)
      : changeEvents(this.view, view, reread);
    // A rename's new name can be heard before its old one goes (the two events may fall
    // into different batches): a definition that looks duplicated after looking at named
    // paths only is checked by a full walk.
    if (looked && newDuplicate(this.view, view)) return this.observe(snapshot, true, dirty);
    return { records: kept, view, events, found, reads: toRead.length };
  }

  /**
   * Reads a file for this batch. After the first view, a big file is handed to the parse
   * pool and the batch goes on without it ("pending": what it held stays); once parsed, its
   * path is touched and the next batch takes the outcome, if the file has not moved since.
   */
  private async readFile(file: FoundFile): Promise<ReadOutcome | "pending"> {
    const running = this.background.get(file.absPath);
    if (running && sameSignature(running.signature, file.signature)) {
      if (!running.outcome) return "pending";
      this.background.delete(file.absPath);
      return running.outcome;
    }
    if (running) {
      running.controller.abort(); // the file moved on: that parse is of no use
      this.background.delete(file.absPath);
    }
    const { size } = file.signature;
    const big = size >= this.tuning.backgroundParseBytes && size <= this.config.maxFileBytes;
    if (!this.initialDone || !big) return this.read(file, this.stopping.signal);
    const controller = new AbortController();
    const stop = this.stopping.signal;
    if (stop.aborted) controller.abort();
    else stop.addEventListener("abort", () => controller.abort(), { once: true });
    const entry: BackgroundRead = { signature: file.signature, controller };
    this.background.set(file.absPath, entry);
    this.ctx?.log.info({ path: file.absPath, bytes: size }, "parsing a big file in the background");
    this.read(file, controller.signal).then(
      (outcome) => {
        if (this.background.get(file.absPath) !== entry) return;
        entry.outcome = outcome;
        this.touch(file.absPath);
      },
      (err) => {
        if (this.background.get(file.absPath) === entry) this.background.delete(file.absPath);
        if (!controller.signal.aborted) this.ctx?.log.error({ err }, "background parse failed");
      },
    );
    return "pending";
  }

  /** A big file deleted while it parsed: its parse is of no use any more. */
  private dropBackgroundReadsOfGoneFiles(found: ScanResult): void {
    if (this.background.size === 0) return;
    const present = new Set(found.files.map((f) => f.absPath));
    for (const [path, running] of this.background) {
      if (present.has(path)) continue;
      running.controller.abort();
      this.background.delete(path);
    }
  }

  private async read(file: FoundFile, signal: AbortSignal): Promise<ReadOutcome> {
    const outcome = await readResourceFile({
      source: this.name,
      absPath: file.absPath,
      relPath: file.relPath,
      maxBytes: this.config.maxFileBytes,
      maxExpandedNodes: this.config.maxExpandedNodes,
      signal,
      ...(this.tuning.parse && { parse: this.tuning.parse }),
    });
    if (outcome.status !== "gone" && outcome.parseMs !== undefined) {
      const fields = {
        path: file.absPath,
        bytes: file.signature.size,
        parseMs: Math.round(outcome.parseMs),
      };
      if (outcome.parseMs >= SLOW_PARSE_MS) this.ctx?.log.info(fields, "slow parse");
      else this.ctx?.log.debug(fields, "parsed");
    }
    // Packed at once: a batch of thousands of files never holds all their parsed trees.
    return outcome.status === "read" ? { ...outcome, items: outcome.items.map(pack) } : outcome;
  }

  /**
   * The last walk, when looking at named paths alone can be trusted: nothing outstanding
   * that only a walk resolves (a problem, a place not listed, a file that could not be read).
   */
  private lookAtBase(): ScanResult | undefined {
    const last = this.lastScan;
    if (!last || last.problems.length > 0 || last.unlisted.length > 0) return undefined;
    if (last.missingRoots.length > 0 || this.view.unknown.size > 0) return undefined;
    for (const record of this.records.values())
      if (!record.readable || record.problems.some(isTransient)) return undefined;
    return last;
  }

  /** Counts reads; a long read (a big initial scan) says how far it has got every few seconds. */
  private progress(total: number): () => void {
    const clock = this.ctx!.clock;
    let done = 0;
    let lastReport = clock.now();
    return () => {
      done++;
      if (clock.now() - lastReport < PROGRESS_INTERVAL_MS) return;
      lastReport = clock.now();
      this.ctx?.log.info({ read: done, total }, "reading files");
    };
  }

  private observation(records: Map<string, FileRecord>, events: ObservationEvent[]): Emitted {
    return { events, cursors: { [DEFAULT_STREAM]: cursorOf(records, this.stateKey) } };
  }
}

function needsRead(record: FileRecord | undefined, file: FoundFile, dirty: Set<string>): boolean {
  if (!record || dirty.has(file.absPath)) return true;
  const a = record.signature;
  const b = file.signature;
  const changed =
    a.dev !== b.dev ||
    a.ino !== b.ino ||
    a.size !== b.size ||
    a.mtimeMs !== b.mtimeMs ||
    a.ctimeMs !== b.ctimeMs;
  return changed || record.problems.some(isTransient);
}

/** The same paths, each with the very record object (none was read or changed since). */
function sameRecords(a: Map<string, FileRecord>, b: Map<string, FileRecord>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, record] of a) if (b.get(path) !== record) return false;
  return true;
}

function newDuplicate(before: View, after: View): boolean {
  for (const [key, problem] of after.problems)
    if (problem.code === "CRW_DUPLICATE_RESOURCE" && !before.problems.has(key)) return true;
  return false;
}

/** A permission or I/O error is not in the bytes, so it is worth another try each time. */
function isTransient(problem: { code: string }): boolean {
  return problem.code === "CRW_FILE_UNREADABLE" || problem.code === "CRW_FILE_VANISHED";
}

function sameSignature(a: FileSignature, b: FileSignature): boolean {
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs
  );
}

function nextRecord(
  file: FoundFile,
  before: FileRecord | undefined,
  outcome: ReadOutcome | "pending",
): FileRecord | undefined {
  const { absPath, relPath, signature } = file;
  if (outcome === "pending") {
    // What the file held stays until its parse is in. A file new since the first view held
    // nothing crwatch recorded, so it is known (empty) meanwhile: its parse gives upserts.
    return (
      before ?? {
        absPath,
        relPath,
        signature,
        items: [],
        problems: [],
        readable: false,
        known: true,
      }
    );
  }
  switch (outcome.status) {
    case "gone":
      return undefined;
    case "read": {
      const { items, problems, contentHash } = outcome;
      return {
        absPath,
        relPath,
        signature,
        items: items.map(pack),
        problems,
        readable: true,
        known: true,
        contentHash,
      };
    }
    case "unreadable":
      return {
        absPath,
        relPath,
        signature,
        items: before?.items ?? [],
        problems: outcome.problems,
        readable: false,
        known: before?.known ?? false,
        ...(before?.contentHash !== undefined && { contentHash: before.contentHash }),
      };
  }
}

/**
 * A short hash of the state key and each file's (path, mtime, size), in path order. Worked
 * out at every emit: hashed part by part (no string of the whole tree), sorted only when
 * the records are not in order already (they come in the walk's order).
 */
function cursorOf(records: Map<string, FileRecord>, stateKey: string): string {
  const parts = [...records.values()].map(cursorPart);
  if (parts.some((part, i) => i > 0 && parts[i - 1]! > part)) parts.sort();
  const hash = createHash("sha256").update(stateKey);
  for (const part of parts) hash.update("\n").update(part);
  return hash.digest("hex").slice(0, 16);
}

/** Kept per record: a record not read again is the same object batch after batch. */
const cursorParts = new WeakMap<FileRecord, string>();

function cursorPart(r: FileRecord): string {
  let part = cursorParts.get(r);
  if (part === undefined) {
    part = `${r.absPath}\0${r.signature.mtimeMs}\0${r.signature.size}`;
    cursorParts.set(r, part);
  }
  return part;
}

/**
 * The events as observations: one, unless they hold a snapshot of more than `pageItems`
 * items, which becomes snapshot-begin, pages and snapshot-end (what came before the
 * snapshot goes first, what came after goes with its end).
 */
export function pageSnapshot(
  events: ObservationEvent[],
  pageItems: number,
  id: string,
): ObservationEvent[][] {
  const at = events.findIndex((e) => e.type === "snapshot" && e.items.length > pageItems);
  const snapshot = events[at];
  if (snapshot?.type !== "snapshot") return [events];
  const { scope, keep, items } = snapshot;
  const begin: ObservationEvent = {
    type: "snapshot-begin",
    id,
    ...(scope && { scope }),
    ...(keep && { keep }),
  };
  const parts: ObservationEvent[][] = [];
  for (let i = 0; i < items.length; i += pageItems) {
    const page: ObservationEvent = {
      type: "snapshot-page",
      id,
      items: items.slice(i, i + pageItems),
    };
    parts.push(i === 0 ? [...events.slice(0, at), begin, page] : [page]);
  }
  parts.push([{ type: "snapshot-end", id }, ...events.slice(at + 1)]);
  return parts;
}

async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
