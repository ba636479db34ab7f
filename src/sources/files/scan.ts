import { constants, type Dirent, type Stats, statSync } from "node:fs";
import { access, readdir, realpath, stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import picomatch from "picomatch";
import { sha256Hex } from "../../core/stable-json.js";
import type { ErrorCode } from "../../model/errors.js";
import type { SourceProblem } from "../../model/observation.js";

/** What tells a file changed without reading it (an atomic save gives a new inode). */
export interface FileSignature {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export interface FoundFile {
  absPath: string;
  /** Path relative to the root it was found under, with `/` separators; used in names. */
  relPath: string;
  signature: FileSignature;
}

export interface ScanResult {
  /** Sorted by absolute path; a file under two roots is listed once, under the first. */
  files: FoundFile[];
  /** Symlink loops, directories that could not be listed, missing roots. */
  problems: SourceProblem[];
  /** Absolute paths whose contents could not be listed: absence there proves nothing. */
  unlisted: string[];
  missingRoots: string[];
  /**
   * What the watcher should watch after this walk (decision 0037): the directories listed,
   * and the files reached through a symbolic link or named as a root. Absent where no walk
   * made the result.
   */
  watched?: { dirs: string[]; files: string[] };
}

/** One entry of the config's `paths`. */
export interface Root {
  spec: string;
  /** The named file or directory, or the directory a glob starts from. */
  base: string;
  /** Matches paths relative to base; replaces include for a glob. */
  glob?: (path: string) => boolean;
  /** How many directories deep a glob without `**` can reach. */
  maxDepth: number;
}

export interface SelectorConfig {
  paths: string[];
  include: string[];
  exclude: string[];
}

const hasDotSegment = (pattern: string) =>
  pattern.split("/").some((s) => s.startsWith(".") && s !== "." && s !== "..");
const segments = (rel: string) => (rel === "" ? 0 : rel.split("/").length);

/** Decides which paths belong to a files source: the walker and the watcher share it. */
export class FileSelector {
  readonly roots: Root[];
  private readonly include: (path: string) => boolean;
  private readonly exclude: (path: string) => boolean;
  /** Hidden directories are skipped unless a pattern names one (`**` never matches them). */
  private readonly entersHidden: boolean;

  constructor(config: SelectorConfig, cwd = process.cwd()) {
    this.roots = config.paths.map((spec) => toRoot(spec, cwd));
    this.include = picomatch(config.include);
    this.exclude = config.exclude.length > 0 ? picomatch(config.exclude) : () => false;
    const globs = config.paths.map((p) => picomatch.scan(p)).filter((p) => p.isGlob);
    this.entersHidden = [...config.include, ...globs.map((g) => g.glob)].some(hasDotSegment);
  }

  selectsFile(root: Root, rel: string): boolean {
    if (this.exclude(rel)) return false;
    return root.glob ? root.glob(rel) : this.include(rel);
  }

  entersDir(root: Root, rel: string): boolean {
    if (segments(rel) > root.maxDepth) return false;
    if (!this.entersHidden && basename(rel).startsWith(".")) return false;
    return !this.exclude(rel) && !this.exclude(`${rel}/`);
  }

  /**
   * For the watcher: false for what can never matter. Without stats a path may be a file or
   * a directory, so only its place decides. `..`-prefixed entries stay visible although the
   * walker skips them: Kubernetes volume mounts swap a `..data` symlink to publish new
   * contents, and that swap is the only event such an update makes.
   */
  watches(absPath: string, stats?: Stats): boolean {
    return this.roots.some((root) => this.watchesUnder(root, absPath, stats));
  }

  private watchesUnder(root: Root, absPath: string, stats?: Stats): boolean {
    if (isWithin(absPath, root.base)) return true; // the root, or a directory on the way to it
    if (!isWithin(root.base, absPath)) return false;
    const rel = toRel(root.base, absPath);
    if (rel.split("/").some((s) => s.startsWith(".."))) return true;
    if (stats?.isDirectory()) return this.entersDir(root, rel);
    if (stats?.isFile()) return this.selectsFile(root, rel);
    return true;
  }
}

function toRoot(spec: string, cwd: string): Root {
  const scanned = picomatch.scan(spec);
  if (!scanned.isGlob)
    return { spec, base: resolve(cwd, spec), maxDepth: Number.POSITIVE_INFINITY };
  const glob = scanned.glob;
  const maxDepth = glob.includes("**") ? Number.POSITIVE_INFINITY : segments(glob) - 1;
  return { spec, base: resolve(cwd, scanned.base || "."), glob: picomatch(glob), maxDepth };
}

/** True when `path` is `dir` or inside it. */
export function isWithin(dir: string, path: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

function toRel(base: string, path: string): string {
  return relative(base, path).split(sep).join("/");
}

/**
 * The paths to hand the watcher: each root's parent (so the root itself can be deleted and
 * made again), or its nearest existing ancestor while it is missing. A parent that cannot be
 * listed would hide the root from the watcher, so then the root itself is watched.
 */
export async function watchTargets(selector: FileSelector): Promise<string[]> {
  const targets = new Set<string>();
  for (const root of selector.roots) {
    const parent = await nearestExistingDir(dirname(root.base));
    const listable = await access(parent, constants.R_OK | constants.X_OK).then(
      () => true,
      () => false,
    );
    const rootExists = await stat(root.base).then(
      () => true,
      () => false,
    );
    targets.add(listable || !rootExists ? parent : root.base);
  }
  return [...targets].sort();
}

async function nearestExistingDir(path: string): Promise<string> {
  for (let dir = path; ; dir = dirname(dir)) {
    const st = await stat(dir).catch(() => undefined);
    if (st?.isDirectory() || dir === dirname(dir)) return dir;
  }
}

/**
 * Walks every root: which files the source holds now, and what could not be looked at.
 * `watch`, when given, hears each directory before it is listed (and each file reached
 * through a link), so a watch set there misses nothing that changes after the listing.
 */
export async function scan(
  selector: FileSelector,
  watch: (path: string, file: boolean) => void = () => undefined,
): Promise<ScanResult> {
  const walk = new Walk(selector, watch);
  for (const root of selector.roots) await walk.root(root);
  return walk.result();
}

class Walk {
  private readonly files = new Map<string, FoundFile>();
  private readonly problems: SourceProblem[] = [];
  private readonly unlisted: string[] = [];
  private readonly missingRoots: string[] = [];
  /** Real paths of the directories on the way down: meeting one again is a loop. */
  private readonly ancestors = new Set<string>();
  /** Real paths already walked for this root: a second link to one adds nothing. */
  private visited = new Set<string>();
  private readonly watched = { dirs: [] as string[], files: [] as string[] };

  constructor(
    private readonly selector: FileSelector,
    private readonly watch: (path: string, file: boolean) => void,
  ) {}

  private watchPath(path: string, file = false): void {
    (file ? this.watched.files : this.watched.dirs).push(path);
    this.watch(path, file);
  }

  async root(root: Root): Promise<void> {
    let st: Stats;
    try {
      st = await stat(root.base);
    } catch (err) {
      this.rootError(root, err);
      return;
    }
    if (st.isFile() && !root.glob) {
      this.addFile(root.base, basename(root.base), st);
      this.watchPath(root.base, true);
    } else if (st.isDirectory()) {
      const real = await realpath(root.base).catch(() => root.base);
      this.visited = new Set([real]);
      this.ancestors.add(real);
      await this.dir(root, root.base, "", real);
      this.ancestors.delete(real);
    }
  }

  private async dir(root: Root, dir: string, rel: string, real: string): Promise<void> {
    let entries: Dirent[];
    this.watchPath(dir);
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") this.unreadable(dir, err);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries)
      await this.entry(root, dir, rel, real, entry, statOrError(join(dir, entry.name)));
  }

  private async entry(
    root: Root,
    dir: string,
    rel: string,
    real: string,
    entry: Dirent,
    st: Stats | { error: unknown },
  ) {
    const path = join(dir, entry.name);
    const childRel = rel === "" ? entry.name : `${rel}/${entry.name}`;
    if ("error" in st) {
      const errno = errnoOf(st.error);
      // ENOENT: a dangling link or a file deleted since the listing; neither holds anything.
      if (errno === "ELOOP") this.loop(path, "the link resolves to itself (ELOOP)");
      else if (errno !== "ENOENT") this.unreadable(path, st.error);
      return;
    }
    if (st.isFile()) {
      if (!this.selector.selectsFile(root, childRel)) return;
      this.addFile(path, childRel, st);
      if (entry.isSymbolicLink()) this.watchPath(path, true);
      return;
    }
    if (!st.isDirectory() || !this.selector.entersDir(root, childRel)) return;
    const childReal = entry.isSymbolicLink()
      ? await realpath(path).catch(() => undefined)
      : join(real, entry.name);
    if (childReal === undefined) return;
    if (this.ancestors.has(childReal)) {
      this.loop(path, `it leads back to ${childReal}, a directory it is inside`);
      return;
    }
    if (this.visited.has(childReal)) return;
    this.visited.add(childReal);
    this.ancestors.add(childReal);
    await this.dir(root, path, childRel, childReal);
    this.ancestors.delete(childReal);
  }

  private addFile(absPath: string, relPath: string, st: Stats): void {
    if (this.files.has(absPath)) return;
    const { dev, ino, size, mtimeMs, ctimeMs } = st;
    this.files.set(absPath, { absPath, relPath, signature: { dev, ino, size, mtimeMs, ctimeMs } });
  }

  private rootError(root: Root, err: unknown): void {
    const errno = errnoOf(err);
    if (errno === "ELOOP") {
      this.loop(root.base, "the watched path resolves to itself (ELOOP)");
      this.unlisted.push(root.base);
    } else if (errno === "ENOENT" || errno === "ENOTDIR") {
      const what = root.glob ? `the base directory of "${root.spec}"` : `"${root.spec}"`;
      this.missingRoots.push(root.base);
      this.unlisted.push(root.base);
      this.problem(
        "CRW_PATH_MISSING",
        root.base,
        `watched path ${what} does not exist (${root.base}); watching for it to appear`,
      );
    } else {
      this.unreadable(root.base, err);
    }
  }

  private loop(path: string, why: string): void {
    this.problem("CRW_SYMLINK_LOOP", path, `symbolic link loop at ${path}: ${why}; not followed`);
  }

  private unreadable(path: string, err: unknown): void {
    this.unlisted.push(path);
    const errno = errnoOf(err) ?? "unknown error";
    this.problem(
      "CRW_FILE_UNREADABLE",
      path,
      `${path} could not be listed (${errno}); nothing under it is taken as deleted`,
      errno,
    );
  }

  private problem(code: ErrorCode, path: string, message: string, detail = ""): void {
    const fingerprint = `${sha256Hex(`${path}\0${detail}`)}:${code}`;
    this.problems.push({ code, message, location: { path }, fingerprint });
  }

  result(): ScanResult {
    const files = [...this.files.values()].sort((a, b) => compare(a.absPath, b.absPath));
    return {
      files,
      problems: this.problems,
      unlisted: this.unlisted,
      missingRoots: this.missingRoots,
      watched: this.watched,
    };
  }
}

/**
 * A synchronous stat (decision 0037): a walk makes one per entry, and the promise's round
 * trip through the thread pool cost ~25 µs of this thread per file against a few for the
 * call itself (its inode is in the kernel's cache right after the listing). The event loop
 * is held for one directory's entries at most; the listing itself stays asynchronous.
 */
function statOrError(path: string): Stats | { error: unknown } {
  try {
    return statSync(path);
  } catch (error) {
    return { error };
  }
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
