import { lstat, realpath } from "node:fs/promises";
import { dirname, sep } from "node:path";
import {
  compare,
  errnoOf,
  type FileSelector,
  type FoundFile,
  isWithin,
  type ScanResult,
} from "./scan.js";

/**
 * What a walk would find now, worked out from the last walk and the paths the watcher
 * named, without walking: each named path is looked at once (lstat). Only the plain cases
 * are handled here: a regular file made, changed or removed, outside symlinks. Anything
 * else (a directory, a symlink, a `..data` swap, a removed directory, a new file below a
 * symlinked directory) returns undefined, and the caller walks everything, as before.
 */
export async function lookAt(
  selector: FileSelector,
  last: ScanResult,
  named: Iterable<string>,
): Promise<ScanResult | undefined> {
  const files = new Map(last.files.map((f) => [f.absPath, f]));
  let added = false;
  for (const path of named) {
    const found = await lookAtOne(selector, files, path);
    if (found === "walk") return undefined;
    if (found === "gone") files.delete(path);
    else if (found !== "ignore") {
      added ||= !files.has(path);
      files.set(path, found);
    }
  }
  const list = [...files.values()];
  // The walk lists files in path order; keep it (it decides which definition wins).
  if (added) list.sort((a, b) => compare(a.absPath, b.absPath));
  return { ...last, files: list };
}

async function lookAtOne(
  selector: FileSelector,
  files: Map<string, FoundFile>,
  path: string,
): Promise<FoundFile | "gone" | "ignore" | "walk"> {
  if (path.split(sep).some((s) => s.startsWith(".."))) return "walk";
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch (err) {
    if (errnoOf(err) !== "ENOENT") return "walk";
    if (files.has(path)) return "gone";
    // A directory that went away (or was renamed) takes its files with it: walk.
    const prefix = path.endsWith(sep) ? path : path + sep;
    for (const known of files.keys()) if (known.startsWith(prefix)) return "walk";
    return "ignore"; // an editor's temporary file, gone already
  }
  if (!st.isFile()) return "walk";
  const { dev, ino, size, mtimeMs, ctimeMs } = st;
  const signature = { dev, ino, size, mtimeMs, ctimeMs };
  const known = files.get(path);
  if (known) return { ...known, signature };
  const relPath = selectedUnder(selector, path);
  if (relPath === undefined) return "ignore";
  // The walk names a file below a symlinked directory once, under the first link: walk.
  if ((await realpath(dirname(path)).catch(() => "")) !== dirname(path)) return "walk";
  return { absPath: path, relPath, signature };
}

/** The path relative to the first root that would list it, if any does. */
function selectedUnder(selector: FileSelector, path: string): string | undefined {
  for (const root of selector.roots) {
    if (!isWithin(root.base, path) || path === root.base) continue;
    const rel = path
      .slice(root.base.length + 1)
      .split(sep)
      .join("/");
    const dirs = rel.split("/").slice(0, -1);
    const entered = dirs.every((_, i) => selector.entersDir(root, dirs.slice(0, i + 1).join("/")));
    if (entered && selector.selectsFile(root, rel)) return rel;
  }
  return undefined;
}
