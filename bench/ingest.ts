import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import type { BuildWorkerData } from "../src/compose/build-worker.js";
import { workerCount } from "../src/compose/ingest.js";
import { createMasker } from "../src/core/mask.js";
import { Ingest, type IngestOptions } from "../src/ingest/pipeline.js";
import type { Change } from "../src/model/change.js";
import { type Observation, type ObservedObject, observedText } from "../src/model/observation.js";
import type { EvaluateRules } from "../src/model/rule.js";
import { createRuleEngine } from "../src/rules/index.js";
import { Dispatcher } from "../src/sinks/dispatcher.js";
import { allDelivered, type Sink } from "../src/sinks/sink.js";
import { openSqliteStore } from "../src/store/sqlite/store.js";
import { tempDir } from "../test/helpers.js";
import { cpuMsSince, mainThreadCpuMs, Stopwatch, timed } from "./cpu.js";
import { makeRoute, routeFields } from "./objects.js";
import { peakRssMib, percentile, round } from "./stats.js";

/** Upserts per observation, as a source sends after a burst (a list page, a Git commit). */
export const PER_OBSERVATION = 100;
/**
 * Observations waiting for their commit at most. The bytes they hold are bounded by
 * ingest's back-pressure (`room()`, decision 0037), which the bench waits for as a source
 * does; this count only caps it further when BENCH_WINDOW says so.
 */
const WINDOW = Number(process.env.BENCH_WINDOW ?? 64);
/**
 * Rate of the latency phase: well below capacity, so latency is not queueing: 1,000/s, or a
 * quarter of the throughput just measured if that is lower (a loaded machine).
 */
const LATENCY_RATE_PER_S = 1_000;
const LATENCY_CHANGES = 5_000;

const SOURCE = "bench";
const MASK_KEY = Buffer.from("bench-key");

/** Build workers as `serve` starts them by default ("auto"), unless BENCH_WORKERS says. */
export function benchWorkers(): number {
  const given = process.env.BENCH_WORKERS;
  return given === undefined ? workerCount("auto") : Number(given);
}

/**
 * The source hands each object as JSON text, as the files, Git and Kubernetes sources do
 * (decision 0033), unless BENCH_INPUT=object (a source that builds objects itself).
 */
export function benchTextInput(): boolean {
  return process.env.BENCH_INPUT !== "object";
}

/** The rules and, with workers, the build worker pool, as `buildIngest` sets them up. */
export function buildSetup(
  args: Pick<IngestTaskArgs, "rules" | "workers">,
  evaluate?: EvaluateRules,
): Partial<IngestOptions> {
  const workers = args.workers ?? 0;
  if (workers === 0) return evaluate ? { rules: evaluate } : {};
  const data: BuildWorkerData = {
    maskKey: new Uint8Array(MASK_KEY),
    secretKeys: [],
    canonicalize: {},
    ...(args.rules ? {} : { policy: { disable: createRuleEngine().ids() } }),
  };
  return {
    ...(args.rules && {
      rules: createRuleEngine({ part: "stateless" }),
      statefulRules: createRuleEngine({ part: "stateful" }),
    }),
    workers: {
      url: new URL("../src/compose/build-worker.js", import.meta.url),
      data,
      size: workers,
    },
  };
}

export interface IngestTaskArgs {
  resources: number;
  changes: number;
  /** Also measure change → sink latency at a paced rate. */
  latency: boolean;
  rules?: boolean;
  /** Build worker threads (0: build in the ingest thread). */
  workers?: number;
  /**
   * The source hands each object as JSON text (as the parse pool does) instead of parsing it
   * itself: ingest parses it where it builds (decision 0033).
   */
  text?: boolean;
}

/** Change n's input: the JSON text of resource n % resources at version floor(n / resources). */
export function textOf(n: number, resources: number): { i: number; text: string } {
  const i = n % resources;
  return { i, text: JSON.stringify(makeRoute(i, Math.floor(n / resources))) };
}

function observed(i: number, text: string, asText: boolean): ObservedObject {
  const fields = routeFields(SOURCE, i);
  return asText ? observedText(text, fields) : { ...fields, object: JSON.parse(text) };
}

function observation(items: ObservedObject[]): Observation {
  return {
    source: SOURCE,
    observedAt: new Date().toISOString(),
    events: items.map((item) => ({ type: "upsert", item })),
  };
}

/**
 * crwatch's whole pipeline in this process: JSON.parse of each object's text (what a source
 * does), ingest (canonicalize, mask, diff, summary, hash chain, commit) and a dispatcher
 * delivering to a sink that only counts. Making the input text is timed and taken out.
 */
export async function crwatchIngestTask(
  args: IngestTaskArgs,
  evaluate?: EvaluateRules,
): Promise<Record<string, unknown>> {
  const dir = await tempDir("crwatch-bench-");
  try {
    const store = await openSqliteStore({ dir: dir.path });
    const commitWatch = new Stopwatch();
    const dispatchWatch = new Stopwatch();
    const inputWatch = new Stopwatch();
    const env = process.env;
    const ingest = new Ingest({
      store: timed(store, commitWatch, ["commit"]),
      masker: createMasker({ key: MASK_KEY }),
      log: pino({ level: "silent" }),
      ...buildSetup(args, evaluate),
      // Knobs for a look at what memory buys (MiB; the defaults are serve's).
      ...(env.BENCH_CACHE_MIB && { maxCachedObjectBytes: mib(env.BENCH_CACHE_MIB) }),
      ...(env.BENCH_BATCH_MIB && { maxBatchBytes: mib(env.BENCH_BATCH_MIB) }),
      ...(env.BENCH_QUEUED_MIB && { maxQueuedBytes: mib(env.BENCH_QUEUED_MIB) }),
    });
    const sent = new Map<string, number>();
    const latencies: number[] = [];
    let measuring = false;
    const sink: Sink = {
      name: "bench",
      type: "bench",
      async deliver(changes: readonly Change[]) {
        return dispatchWatch.time(() => {
          if (measuring) {
            const now = performance.now();
            for (const c of changes) {
              const t0 = sent.get(`${c.ref.name}#${c.revision}`);
              if (t0 !== undefined) latencies.push(now - t0);
            }
          }
          return allDelivered(changes);
        });
      },
      async close() {},
    };
    const dispatcher = new Dispatcher({
      store: timed(store, dispatchWatch),
      targets: [{ sink }],
      log: pino({ level: "silent" }),
    });
    ingest.onCommit((changes) => dispatcher.offer(changes));
    dispatcher.start();

    const offerRange = async (from: number, to: number) => {
      const inFlight = new Set<Promise<void>>();
      for (let n = from; n < to; n += PER_OBSERVATION) {
        // The source reads no more while ingest holds its fill of input (decision 0037).
        await ingest.room();
        const end = Math.min(to, n + PER_OBSERVATION);
        const texts = inputWatch.time(() =>
          Array.from({ length: end - n }, (_, k) => textOf(n + k, args.resources)),
        );
        const obs = observation(texts.map(({ i, text }) => observed(i, text, args.text === true)));
        const p: Promise<void> = ingest.accept(obs).then(() => {
          inFlight.delete(p);
        });
        inFlight.add(p);
        if (inFlight.size >= WINDOW) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    };

    // Throughput: the first `resources` changes are ADDED, the rest MODIFIED.
    const written0 = bytesWritten();
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpuMs();
    const t0 = performance.now();
    await offerRange(0, args.changes);
    await ingest.idle();
    // Wait for the sink to have it all, so the dispatcher's share is inside the figures.
    while ((await store.getConsumerCursor("sink:bench")) < (await store.lastSeq())) {
      dispatcher.wake();
      await new Promise((r) => setImmediate(r));
    }
    const written = bytesWritten() - written0;
    const wallMs = performance.now() - t0 - inputWatch.ms;
    const cpuMs = cpuMsSince(cpu0) - inputWatch.ms;
    const mainMs = mainThreadCpuMs() - main0 - inputWatch.ms;
    const committed = await store.lastSeq();
    const stats = ingest.stats();
    const stages = {
      commit: commitWatch.ms,
      dispatch: dispatchWatch.ms,
      // Everything else the process spent CPU on: parse, canonicalize, mask, diff, summary,
      // rules, queueing, garbage collection.
      build: cpuMs - commitWatch.ms - dispatchWatch.ms,
    };
    const perChange = (ms: number) => round((ms * 1000) / Math.max(1, committed));

    let latency: Record<string, number> | undefined;
    if (args.latency) {
      measuring = true;
      const rate = Math.min(LATENCY_RATE_PER_S, Math.round(committed / (wallMs / 1000) / 4));
      const interval = 1000 / rate;
      const start = performance.now();
      for (let n = 0; n < LATENCY_CHANGES; n++) {
        const { i, text } = textOf(args.changes + n, args.resources);
        const wait = start + n * interval - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const version = Math.floor((args.changes + n) / args.resources);
        sent.set(`route-${i}#${version + 1}`, performance.now());
        void ingest.accept(observation([observed(i, text, args.text === true)]));
      }
      await ingest.idle();
      latency = {
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
        samples: latencies.length,
        ratePerSecond: rate,
      };
    }
    await dispatcher.stop({ drain: true });
    await ingest.close();
    const stored = await store.lastSeq();
    await store.close();
    const dbBytes =
      fileSize(join(dir.path, "crwatch.db")) + fileSize(join(dir.path, "crwatch.db-wal"));
    return {
      changes: committed,
      changesPerSecond: Math.round(committed / (wallMs / 1000)),
      buildWorkers: args.workers ?? 0,
      meanChangesPerCommit: Math.round(committed / Math.max(1, stats.commits)),
      cpuUsPerChange: {
        total: perChange(cpuMs),
        // The serial part: with build workers, the rest runs beside it on other cores.
        ingestThread: perChange(mainMs),
        otherThreads: perChange(cpuMs - mainMs),
        build: perChange(stages.build),
        commit: perChange(stages.commit),
        dispatch: perChange(stages.dispatch),
      },
      ...(latency && { latencyMs: latency }),
      // What the throughput phase handed the kernel to write (WAL, checkpoints, everything the
      // process wrote), and the database's size at the end (after the closing checkpoint).
      writtenBytesPerChange: Math.round(written / Math.max(1, committed)),
      dbBytesPerChange: Math.round(dbBytes / Math.max(1, stored)),
      dbMiB: round(dbBytes / 1024 / 1024),
      peakRssMiB: peakRssMib(),
    };
  } finally {
    await dir.cleanup();
  }
}

/**
 * Bytes this process passed to write(2) so far (`wchar` of /proc/self/io): the WAL, its
 * checkpoints into the database file, the checkpoint file. NaN where /proc is missing.
 */
function bytesWritten(): number {
  try {
    const line = readFileSync("/proc/self/io", "utf8")
      .split("\n")
      .find((l) => l.startsWith("wchar:"));
    return line ? Number(line.slice(6)) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const mib = (value: string) => Number(value) * 1024 * 1024;

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}
