import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fromStored, type StoredItem, toStored } from "./packed.js";
import { errnoOf } from "./scan.js";
import type { FileRecord } from "./state.js";

/**
 * What the files source read last time, kept in its work dir so that a restart re-reads
 * only the files whose signature (device, inode, size, mtime, ctime) moved: a restart with
 * nothing changed parses no YAML. Written whole (temporary file, then rename) after the
 * start-up batch and at stop; a record is trusted only for the exact signature it was read
 * at, so a stale or missing file costs re-reads, never a wrong picture.
 */
const FILE_NAME = "read-cache.json";
/** 2: objects as JSON text (packed.ts), so loading the cache parses no manifest. */
const VERSION = 2;

interface CacheFile {
  version: number;
  source: string;
  records: StoredRecord[];
}

type StoredRecord = Omit<FileRecord, "items"> & { items: StoredItem[] };

/**
 * The records of the last run, by path; empty when there is no usable cache (`onDamaged`
 * hears why, unless there simply is none yet).
 */
export async function loadReadCache(
  dir: string,
  source: string,
  onDamaged: (err: unknown) => void,
): Promise<Map<string, FileRecord>> {
  try {
    const parsed = JSON.parse(await readFile(join(dir, FILE_NAME), "utf8")) as CacheFile;
    if (parsed.version !== VERSION || parsed.source !== source || !Array.isArray(parsed.records))
      return new Map();
    return new Map(
      parsed.records.map((r) => [r.absPath, { ...r, items: r.items.map(fromStored) }]),
    );
  } catch (err) {
    // Missing (first start) or damaged: every file is read, as without a cache.
    if (errnoOf(err) !== "ENOENT") onDamaged(err);
    return new Map();
  }
}

/** Keeps the records that say what a file holds (read cleanly, nothing to retry). */
export async function saveReadCache(
  dir: string,
  source: string,
  records: Iterable<FileRecord>,
  keep: (record: FileRecord) => boolean,
): Promise<void> {
  const kept = [...records].filter(keep).map((r) => ({ ...r, items: r.items.map(toStored) }));
  const file: CacheFile = { version: VERSION, source, records: kept };
  await mkdir(dir, { recursive: true });
  const path = join(dir, FILE_NAME);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(file));
  await rename(tmp, path);
}
