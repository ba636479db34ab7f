import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import pino from "pino";
import { createMasker } from "../src/core/mask.js";
import { Ingest } from "../src/ingest/pipeline.js";
import type { Change } from "../src/model/change.js";
import type { Observation, ObservedObject } from "../src/model/observation.js";
import type { EvaluateRules } from "../src/model/rule.js";
import { createRuleEngine } from "../src/rules/index.js";
import { Dispatcher } from "../src/sinks/dispatcher.js";
import { allDelivered, type Sink } from "../src/sinks/sink.js";
import { openSqliteStore } from "../src/store/sqlite/store.js";
import { tempDir } from "../test/helpers.js";
import { makeRoute, routeFields } from "./objects.js";
import { percentile, RssSampler } from "./stats.js";

/** The figures; the environment can shrink them for a quick look or a profile. */
const RESOURCES = Number(process.env.BENCH_RESOURCES ?? 10_000);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 100_000);
/** Upserts per observation, as a source sends after a burst (a list page, a Git commit). */
const PER_OBSERVATION = 100;
/** Observations waiting for their commit at most (what a source's back-pressure allows). */
const WINDOW = 64;
/** Rate of the latency phase: well below capacity, so latency is not queueing. */
const LATENCY_RATE_PER_S = 1_000;
const LATENCY_CHANGES = 5_000;

const SOURCE = "bench";

function observed(i: number, version: number): ObservedObject {
  const object = makeRoute(i, version);
  return { ...routeFields(SOURCE, i), object };
}

function observation(items: ObservedObject[]): Observation {
  return {
    source: SOURCE,
    observedAt: new Date().toISOString(),
    events: items.map((item) => ({ type: "upsert", item })),
  };
}

/** Change number n touches resource n % RESOURCES at version floor(n / RESOURCES). */
export function observationAt(n: number, to: number): Observation {
  const items: ObservedObject[] = [];
  for (let k = n; k < Math.min(to, n + PER_OBSERVATION); k++) {
    items.push(observed(k % RESOURCES, Math.floor(k / RESOURCES)));
  }
  return observation(items);
}

/**
 * Offers changes [from, to) as a source would: observations made on the fly, at most
 * WINDOW waiting for their commit (memory stays bounded, ingest is never idle).
 */
export async function offer(ingest: Ingest, from: number, to: number): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (let n = from; n < to; n += PER_OBSERVATION) {
    const p: Promise<void> = ingest.accept(observationAt(n, to)).then(() => {
      inFlight.delete(p);
    });
    inFlight.add(p);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

/**
 * Ingest runs the whole rules catalog on every change, as serve does (`rules: false` turns it
 * off); the engine is timed inside the build phase, so one run shows build µs per change
 * with and without the rules.
 */
export async function ingestScenario(
  options: { scenario?: string; rules?: EvaluateRules | false } = {},
): Promise<Record<string, unknown>> {
  const engine = options.rules === false ? undefined : (options.rules ?? createRuleEngine());
  let rulesMs = 0;
  const timed: EvaluateRules | undefined = engine
    ? (input) => {
        const t0 = performance.now();
        try {
          return engine(input);
        } finally {
          rulesMs += performance.now() - t0;
        }
      }
    : undefined;
  const dir = await tempDir("crwatch-bench-");
  const rss = new RssSampler();
  try {
    const store = await openSqliteStore({ dir: dir.path });
    const ingest = new Ingest({
      store,
      masker: createMasker({ key: Buffer.from("bench-key") }),
      log: pino({ level: "silent" }),
      ...(timed && { rules: timed }),
    });
    const sent = new Map<string, number>();
    const latencies: number[] = [];
    let measuring = false;
    const sink: Sink = {
      name: "bench",
      type: "bench",
      async deliver(changes: readonly Change[]) {
        if (measuring) {
          const now = performance.now();
          for (const c of changes) {
            const t0 = sent.get(`${c.ref.name}#${c.revision}`);
            if (t0 !== undefined) latencies.push(now - t0);
          }
        }
        return allDelivered(changes);
      },
      async close() {},
    };
    const dispatcher = new Dispatcher({
      store,
      targets: [{ sink }],
      log: pino({ level: "silent" }),
    });
    let commits = 0;
    ingest.onCommit(() => {
      commits++;
      dispatcher.wake();
    });
    dispatcher.start();

    // Throughput: 100k changes (10k ADDED, then 90k MODIFIED) offered as fast as ingest takes them.
    const t0 = performance.now();
    await offer(ingest, 0, CHANGES);
    const seconds = (performance.now() - t0) / 1000;
    const committed = await store.lastSeq();
    const throughputCommits = commits;
    const phases = ingest.stats();
    const throughputRulesMs = rulesMs;

    // Latency: paced single changes, change handed to ingest → delivered by the sink.
    measuring = true;
    const interval = 1000 / LATENCY_RATE_PER_S;
    const start = performance.now();
    for (let n = 0; n < LATENCY_CHANGES; n++) {
      const k = CHANGES + n;
      const i = k % RESOURCES;
      const version = Math.floor(k / RESOURCES);
      const wait = start + n * interval - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      sent.set(`route-${i}#${version + 1}`, performance.now());
      void ingest.accept(observation([observed(i, version)]));
    }
    await ingest.idle();
    await dispatcher.stop({ drain: true });
    await store.close();

    const perCommit = Math.max(1, Math.round(committed / Math.max(1, throughputCommits)));
    const baseline = rawInsertBaseline(join(dir.path, "crwatch.db"), dir.path, perCommit);
    return {
      scenario: options.scenario ?? "ingest",
      resources: RESOURCES,
      changes: committed,
      changesPerSecond: Math.round(committed / seconds),
      meanChangesPerCommit: perCommit,
      // Per change, in microseconds: the pure pipeline (of which the rules), then the commit.
      rules: engine ? "whole catalog" : "none",
      perChangeUs: {
        build: perChange(phases.buildMs, phases.changes),
        rules: perChange(throughputRulesMs, phases.changes),
        buildWithoutRules: perChange(phases.buildMs - throughputRulesMs, phases.changes),
        commit: perChange(phases.commitMs, phases.changes),
      },
      latencyMs: {
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
        samples: latencies.length,
        ratePerSecond: LATENCY_RATE_PER_S,
      },
      rssMb: rss.stop(),
      baseline,
      ratioToBaseline: round(committed / seconds / baseline.changesPerSecond),
    };
  } finally {
    await dir.cleanup();
  }
}

function perChange(totalMs: number, changes: number): number {
  return Math.round(((totalMs * 1000) / Math.max(1, changes)) * 10) / 10;
}

/**
 * The same rows (change + revision, as crwatch wrote them) inserted raw into a fresh
 * database with the same schema, pragmas and transaction size: the cost of the disk
 * writes alone, with no parsing, canonicalizing, masking, diffing or hashing.
 */
function rawInsertBaseline(sourceDb: string, dir: string, perTransaction: number) {
  const src = new Database(sourceDb, { readonly: true });
  const changes = src.prepare("SELECT * FROM changes ORDER BY seq").all() as Record<
    string,
    unknown
  >[];
  const revisions = src.prepare("SELECT * FROM snapshots ORDER BY seq").all() as Record<
    string,
    unknown
  >[];
  const schema = (
    src
      .prepare(
        "SELECT sql FROM sqlite_master WHERE type IN ('table','index') AND name IN ('changes','snapshots') OR tbl_name IN ('changes','snapshots') AND sql IS NOT NULL",
      )
      .all() as { sql: string | null }[]
  )
    .map((r) => r.sql)
    .filter((s): s is string => !!s);
  const pageSize = Number(src.pragma("page_size", { simple: true }));
  src.close();
  const db = new Database(join(dir, "baseline.db"));
  // The store's own settings: page size (set before the first table), WAL, NORMAL sync.
  db.pragma(`page_size = ${pageSize}`);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  for (const sql of [...new Set(schema)]) db.exec(sql);
  const insert = (table: string, row: Record<string, unknown>) =>
    db.prepare(
      `INSERT INTO ${table} (${Object.keys(row).join(",")}) VALUES (${Object.keys(row)
        .map(() => "?")
        .join(",")})`,
    );
  const insertChange = insert("changes", changes[0]!);
  const insertRevision = insert("snapshots", revisions[0]!);
  const snapshotOf = new Map(revisions.map((r) => [r.seq, r]));
  const txn = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      insertChange.run(Object.values(changes[i]!));
      const rev = snapshotOf.get(changes[i]!.seq);
      if (rev) insertRevision.run(Object.values(rev));
    }
  });
  const t0 = performance.now();
  for (let i = 0; i < changes.length; i += perTransaction)
    txn(i, Math.min(changes.length, i + perTransaction));
  const seconds = (performance.now() - t0) / 1000;
  db.close();
  return {
    name: "sqlite-raw-insert",
    changesPerSecond: Math.round(changes.length / seconds),
    rowsPerTransaction: perTransaction,
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
