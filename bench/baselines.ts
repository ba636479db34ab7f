import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import fjp from "fast-json-patch";
import type { JsonObject } from "../src/model/json.js";
import { tempDir } from "../test/helpers.js";
import { cpuMsSince, Stopwatch } from "./cpu.js";
import { PER_OBSERVATION, textOf } from "./ingest.js";
import { peakRssMib, round } from "./stats.js";

interface BaselineArgs {
  resources: number;
  changes: number;
  /** Rows per transaction: crwatch's mean changes per commit in the same run. */
  perTransaction: number;
}

/** The store's durability: WAL, synchronous NORMAL. */
function open(path: string): Database.Database {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  return db;
}

/**
 * What a user's quick script would do, on one thread: JSON.parse each object, diff it with
 * fast-json-patch against the previous version kept in a Map, JSON.stringify the patch and
 * the object, one INSERT per change, batched in transactions, same durability.
 */
export async function naivePipelineTask(args: BaselineArgs): Promise<Record<string, unknown>> {
  const dir = await tempDir("crwatch-bench-naive-");
  try {
    const db = open(join(dir.path, "naive.db"));
    db.exec(
      "CREATE TABLE changes (seq INTEGER PRIMARY KEY, ref TEXT NOT NULL, patch TEXT NOT NULL, object TEXT NOT NULL)",
    );
    const insert = db.prepare("INSERT INTO changes (ref, patch, object) VALUES (?, ?, ?)");
    const previous = new Map<number, JsonObject>();
    const inputWatch = new Stopwatch();
    let rows: [string, string, string][] = [];
    const flush = db.transaction((batch: [string, string, string][]) => {
      for (const row of batch) insert.run(row);
    });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let n = 0; n < args.changes; n += PER_OBSERVATION) {
      const end = Math.min(args.changes, n + PER_OBSERVATION);
      const texts = inputWatch.time(() =>
        Array.from({ length: end - n }, (_, k) => textOf(n + k, args.resources)),
      );
      for (const { i, text } of texts) {
        const object = JSON.parse(text) as JsonObject;
        const patch = fjp.compare(previous.get(i) ?? {}, object);
        previous.set(i, object);
        rows.push([`route-${i}`, JSON.stringify(patch), JSON.stringify(object)]);
        if (rows.length >= args.perTransaction) {
          flush(rows);
          rows = [];
        }
      }
    }
    flush(rows);
    const wallMs = performance.now() - t0 - inputWatch.ms;
    const cpuMs = cpuMsSince(cpu0) - inputWatch.ms;
    db.close();
    return {
      name: "naive-pipeline",
      changesPerSecond: Math.round(args.changes / (wallMs / 1000)),
      cpuUsPerChange: round((cpuMs * 1000) / args.changes),
      rowsPerTransaction: args.perTransaction,
      peakRssMiB: peakRssMib(),
    };
  } finally {
    await dir.cleanup();
  }
}

/**
 * Fixed-shape rows (an integer key, a short text key, a body as long as the object's
 * JSON), inserted raw with the same durability and transaction size: the disk's share,
 * independent of crwatch's own schema.
 */
export async function sqliteRawInsertTask(args: BaselineArgs): Promise<Record<string, unknown>> {
  const dir = await tempDir("crwatch-bench-raw-");
  try {
    const db = open(join(dir.path, "raw.db"));
    db.exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, k TEXT NOT NULL, body TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO rows (k, body) VALUES (?, ?)");
    const flush = db.transaction((batch: [string, string][]) => {
      for (const row of batch) insert.run(row);
    });
    // Bodies made beforehand (same byte sizes as the objects), so only the inserts are timed.
    const sizes = Array.from(
      { length: args.resources },
      (_, i) => Buffer.byteLength(textOf(i, args.resources).text) + 0,
    );
    const bodies = sizes.map((size, i) => String.fromCharCode(97 + (i % 26)).repeat(size));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let batch: [string, string][] = [];
    for (let n = 0; n < args.changes; n++) {
      const i = n % args.resources;
      batch.push([`route-${i}`, bodies[i]!]);
      if (batch.length >= args.perTransaction) {
        flush(batch);
        batch = [];
      }
    }
    flush(batch);
    const wallMs = performance.now() - t0;
    const cpuMs = cpuMsSince(cpu0);
    db.close();
    return {
      name: "sqlite-raw-insert",
      changesPerSecond: Math.round(args.changes / (wallMs / 1000)),
      cpuUsPerChange: round((cpuMs * 1000) / args.changes),
      rowsPerTransaction: args.perTransaction,
      bytesPerRow: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length),
      peakRssMiB: peakRssMib(),
    };
  } finally {
    await dir.cleanup();
  }
}
