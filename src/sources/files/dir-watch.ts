import { type FSWatcher, watch } from "node:fs";
import { join } from "node:path";
import { errnoOf } from "./scan.js";

/**
 * The files source's watcher (decision 0037): one `fs.watch` (an inotify watch) per
 * directory the walk lists, set just before the walk lists it, so nothing that changes
 * after the listing goes unheard; plus one per file reached through a symbolic link (an
 * edit of the link's target makes no event in the link's directory). The walk is the only
 * walk: chokidar walked the tree again (an lstat and a stat per file) and kept a watch on
 * every file, which made a restart with nothing changed cost more than twice a plain walk.
 *
 * Events only name a path; the source looks at it (look-at.ts) or walks again. After
 * every full walk `keepOnly` drops the watches of what the walk no longer lists.
 */
export class DirWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  /**
   * Paths whose watch could not be set for a reason that is not about the path (ENOSPC:
   * the inotify limit). Reported once: each report starts a full walk, which tries again
   * (silently) and would otherwise report again, walk after walk.
   */
  private readonly failed = new Set<string>();
  private closed = false;

  constructor(
    private readonly onPath: (path: string) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /**
   * Watches a directory, or a file (`file`: one reached through a link), once; a path gone
   * or unreadable is skipped (the walk reports it).
   */
  add(path: string, file = false): void {
    if (this.closed || this.watchers.has(path)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(path, (event, name) => {
        if (file) {
          // The file was replaced (an atomic save) or removed: this watch follows the old
          // one; the walk the event leads to watches the new one.
          if (event === "rename") this.drop(path);
          this.onPath(path);
          return;
        }
        this.onPath(name ? join(path, name.toString()) : path);
      });
    } catch (err) {
      // Gone since it was listed, or not readable: the walk sees it and reports it.
      if (QUIET.has(errnoOf(err) ?? "") || this.failed.has(path)) return;
      this.failed.add(path);
      this.onError(err);
      return;
    }
    this.failed.delete(path);
    watcher.on("error", (err) => {
      this.drop(path);
      if (!QUIET.has(errnoOf(err) ?? "")) this.onError(err);
      // The place is gone or cannot be read any more: the next look or walk tells.
      else this.onPath(path);
    });
    this.watchers.set(path, watcher);
  }

  /** After a full walk: watch exactly these directories and files. */
  keepOnly(dirs: Iterable<string>, files: Iterable<string>): void {
    const keep = new Set([...dirs, ...files]);
    for (const path of this.watchers.keys()) if (!keep.has(path)) this.drop(path);
    for (const path of this.failed) if (!keep.has(path)) this.failed.delete(path);
    for (const path of dirs) this.add(path);
    for (const path of files) this.add(path, true);
  }

  get size(): number {
    return this.watchers.size;
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private drop(path: string): void {
    this.watchers.get(path)?.close();
    this.watchers.delete(path);
  }
}

/** About one path, which the walk reports itself; no other event is lost. */
const QUIET = new Set(["ENOENT", "ENOTDIR", "EACCES", "EPERM", "ELOOP"]);
