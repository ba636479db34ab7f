import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ObservedObject } from "../../model/observation.js";
import { lazyPacked, type StoredItem, type TextSource, toStored } from "./packed.js";
import { errnoOf } from "./scan.js";
import type { FileRecord } from "./state.js";

/**
 * What the files source read last time, kept in its work dir so that a restart re-reads
 * only the files whose signature (device, inode, size, mtime, ctime) moved: a restart with
 * nothing changed parses no YAML. Written whole (temporary files, then renames) after the
 * start-up batch and at stop; a record is trusted only for the exact signature it was read
 * at, so a stale or missing file costs re-reads, never a wrong picture.
 *
 * Two files (version 3, decision 0037): an index (`read-cache.json`: records, items'
 * fields, where each object's text is) and the objects' JSON texts one after another in a
 * texts file the index names. A start loads the index only; an object's text is read from
 * the texts file when it is needed (an emit, a duplicate's fingerprint, the next save), so
 * neither a restart's time nor the source's memory grows with the size of the objects.
 */
const FILE_NAME = "read-cache.json";
const TEXTS_PREFIX = "read-cache.";
const TEXTS_SUFFIX = ".texts";
/** 3: objects' texts in a texts file, read when needed. */
const VERSION = 3;

interface CacheIndex {
  version: number;
  source: string;
  /** The texts file's name, in the same directory, and its size in bytes. */
  texts: string;
  textsBytes: number;
  records: IndexedRecord[];
}

/** An item as indexed: its fields, and [offset, length] of its text in bytes. */
type IndexedItem = Omit<ObservedObject, "object"> & { at: [number, number] };
type IndexedRecord = Omit<FileRecord, "items"> & { items: IndexedItem[] };

/**
 * The texts file of a loaded index, open for reads until `close`. After a save renames a
 * new one into place, the old one is gone from the directory but still read through this
 * descriptor (the records loaded from it are the same objects until they are read again).
 */
export class CacheTexts implements TextSource {
  private fd: number | undefined;

  constructor(path: string, expectedBytes: number) {
    const fd = openSync(path, "r");
    if (fstatSync(fd).size !== expectedBytes) {
      closeSync(fd);
      throw new Error(`${path} does not hold the ${expectedBytes} bytes its index says`);
    }
    this.fd = fd;
  }

  read(offset: number, length: number): string {
    if (this.fd === undefined) throw new Error("read cache texts read after the source stopped");
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buffer, done, length - done, offset + done);
      if (n === 0) throw new Error("read cache texts file ended early");
      done += n;
    }
    return buffer.toString("utf8");
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface LoadedCache {
  records: Map<string, FileRecord>;
  /** Open while the records' texts may be read; undefined when nothing was loaded. */
  texts?: CacheTexts;
}

/**
 * The records of the last run, by path; empty when there is no usable cache (`onDamaged`
 * hears why, unless there simply is none yet, or it is of an older version).
 */
export async function loadReadCache(
  dir: string,
  source: string,
  onDamaged: (err: unknown) => void,
): Promise<LoadedCache> {
  let texts: CacheTexts | undefined;
  try {
    const index = JSON.parse(await readFile(join(dir, FILE_NAME), "utf8")) as CacheIndex;
    if (index.version !== VERSION || index.source !== source || !Array.isArray(index.records))
      return { records: new Map() };
    const opened = new CacheTexts(join(dir, index.texts), index.textsBytes);
    texts = opened;
    const lazy = (item: IndexedItem) => {
      const { at, ...fields } = item;
      return lazyPacked(fields, opened, at[0], at[1]);
    };
    const records = new Map(
      index.records.map((r) => [r.absPath, { ...r, items: r.items.map(lazy) }]),
    );
    return { records, texts };
  } catch (err) {
    texts?.close();
    // Missing (first start) or damaged: every file is read, as without a cache.
    if (errnoOf(err) !== "ENOENT") onDamaged(err);
    return { records: new Map() };
  }
}

/** Texts are written in chunks of about this many bytes. */
const WRITE_CHUNK_BYTES = 1024 * 1024;

/**
 * Keeps the records that say what a file holds (read cleanly, nothing to retry): a new
 * texts file, then the index naming it, each renamed into place; older texts files go.
 */
export async function saveReadCache(
  dir: string,
  source: string,
  records: Iterable<FileRecord>,
  keep: (record: FileRecord) => boolean,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const textsName = `${TEXTS_PREFIX}${Date.now().toString(36)}-${process.pid}${TEXTS_SUFFIX}`;
  const textsTmp = join(dir, `${textsName}.tmp`);
  const handle = await open(textsTmp, "w");
  const indexed: IndexedRecord[] = [];
  let offset = 0;
  try {
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    for (const record of records) {
      if (!keep(record)) continue;
      const items: IndexedItem[] = [];
      for (const item of record.items) {
        const { text, ...fields } = toStored(item) as StoredItem;
        const bytes = Buffer.from(text, "utf8");
        items.push({ ...fields, at: [offset, bytes.length] });
        offset += bytes.length;
        chunk.push(bytes);
        chunkBytes += bytes.length;
        if (chunkBytes >= WRITE_CHUNK_BYTES) {
          await handle.write(Buffer.concat(chunk));
          chunk = [];
          chunkBytes = 0;
        }
      }
      indexed.push({ ...record, items });
    }
    if (chunkBytes > 0) await handle.write(Buffer.concat(chunk));
  } finally {
    await handle.close();
  }
  const index: CacheIndex = {
    version: VERSION,
    source,
    texts: textsName,
    textsBytes: offset,
    records: indexed,
  };
  const path = join(dir, FILE_NAME);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(index));
  await rename(textsTmp, join(dir, textsName));
  await rename(tmp, path);
  await removeOtherTexts(dir, textsName);
}

/** Texts files of earlier saves (or of a save that stopped halfway). */
async function removeOtherTexts(dir: string, current: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name === current || !name.startsWith(TEXTS_PREFIX)) continue;
    if (!name.endsWith(TEXTS_SUFFIX) && !name.endsWith(`${TEXTS_SUFFIX}.tmp`)) continue;
    await unlink(join(dir, name)).catch(() => undefined);
  }
}
