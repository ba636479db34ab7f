import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import YAML from "yaml";
import { systemClock } from "../src/core/clock.js";
import { createMasker } from "../src/core/mask.js";
import { Ingest } from "../src/ingest/pipeline.js";
import type { Change } from "../src/model/change.js";
import { Dispatcher } from "../src/sinks/dispatcher.js";
import { allDelivered, type Sink } from "../src/sinks/sink.js";
import { createFilesSource } from "../src/sources/files/source.js";
import { SourceRuntime } from "../src/sources/runtime.js";
import { openSqliteStore } from "../src/store/sqlite/store.js";
import { tempDir } from "../test/helpers.js";
import { makeRoute } from "./objects.js";
import { peakRssMib, percentile, round } from "./stats.js";

const PER_DIR = 100;

function fileOf(root: string, i: number): string {
  return join(root, `d${Math.floor(i / PER_DIR)}`, `route-${i}.yaml`);
}

function yamlOf(i: number, version: number): string {
  return YAML.stringify(makeRoute(i, version));
}

/** A tree of `files` HTTPRoute YAML files, PER_DIR per directory. */
export async function makeTree(root: string, files: number): Promise<void> {
  for (let d = 0; d * PER_DIR < files; d++) await mkdir(join(root, `d${d}`), { recursive: true });
  for (let i = 0; i < files; i += 64) {
    const end = Math.min(files, i + 64);
    await Promise.all(
      Array.from({ length: end - i }, (_, k) => writeFile(fileOf(root, i + k), yamlOf(i + k, 0))),
    );
  }
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

/** Baseline: list the tree and stat every file, one at a time. */
export async function walkStatTask(args: { root: string }): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  let n = 0;
  for await (const path of walk(args.root)) {
    await stat(path);
    n++;
  }
  return { name: "walk-with-stat", files: n, ms: Math.round(performance.now() - t0) };
}

/** Baseline: list the tree, read and YAML-parse every file, on one core. */
export async function readParseTask(args: { root: string }): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  let n = 0;
  for await (const path of walk(args.root)) {
    YAML.parseAllDocuments(await readFile(path, "utf8"));
    n++;
  }
  return {
    name: "read-and-parse",
    files: n,
    ms: Math.round(performance.now() - t0),
    peakRssMiB: peakRssMib(),
  };
}

interface Running {
  store: Awaited<ReturnType<typeof openSqliteStore>>;
  ingest: Ingest;
  dispatcher: Dispatcher;
  runtime: SourceRuntime;
}

/** crwatch as `serve` wires it: a files source → ingest → dispatcher → a sink. */
async function startCrwatch(
  root: string,
  dataDir: string,
  sink: Sink,
  onCommit: (changes: Change[]) => void = () => undefined,
): Promise<Running> {
  const log = pino({ level: "silent" });
  const store = await openSqliteStore({ dir: dataDir });
  const ingest = new Ingest({ store, masker: createMasker({ key: Buffer.from("k") }), log });
  const dispatcher = new Dispatcher({ store, targets: [{ sink }], log });
  ingest.onCommit((changes) => {
    onCommit(changes);
    dispatcher.offer(changes);
  });
  dispatcher.start();
  // The work dir `serve` gives it (main.ts): where its read cache lives.
  const source = createFilesSource(
    { name: "files", type: "files", paths: [root] },
    {},
    join(dataDir, "sources", "files"),
  );
  const runtime = new SourceRuntime([source], {
    commit: (observation) => ingest.accept(observation),
    loadCursors: (name) => store.getSourceCursors(name),
    onHealth: () => undefined,
    log,
    clock: systemClock,
  });
  runtime.start();
  await runtime.ready();
  await ingest.idle();
  return { store, ingest, dispatcher, runtime };
}

async function stopCrwatch(r: Running): Promise<void> {
  await r.runtime.stop();
  await r.ingest.idle();
  await r.dispatcher.stop({ drain: true });
  await r.store.close();
}

const quietSink = (onDeliver: (changes: readonly Change[]) => void = () => undefined): Sink => ({
  name: "bench",
  type: "bench",
  async deliver(changes) {
    onDeliver(changes);
    return allDelivered(changes);
  },
  async close() {},
});

/** Start (first or again) until the initial view is committed: "watching". */
export async function startTask(args: {
  root: string;
  dataDir: string;
}): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  let delivered = 0;
  const running = await startCrwatch(
    args.root,
    args.dataDir,
    quietSink((c) => {
      delivered += c.length;
    }),
  );
  const ms = Math.round(performance.now() - t0);
  await stopCrwatch(running);
  return { ms, changes: delivered, peakRssMiB: peakRssMib() };
}

/** Edits one file every 1000/rate ms (seeded order) and times edit → sink. */
export async function filesLatencyTask(args: {
  files: number;
  edits: number;
  rate: number;
}): Promise<Record<string, unknown>> {
  const root = await tempDir("crwatch-bench-tree-");
  const data = await tempDir("crwatch-bench-data-");
  try {
    await makeTree(root.path, args.files);
    const sent = new Map<string, number>();
    const latencies: number[] = [];
    const toCommit: number[] = [];
    const running = await startCrwatch(
      root.path,
      data.path,
      quietSink((changes) => {
        const now = performance.now();
        for (const c of changes) {
          const t0 = sent.get(`${c.ref.name}#${c.revision}`);
          if (t0 !== undefined) latencies.push(now - t0);
        }
      }),
      (changes) => {
        const now = performance.now();
        for (const c of changes) {
          const t0 = sent.get(`${c.ref.name}#${c.revision}`);
          if (t0 !== undefined) toCommit.push(now - t0);
        }
      },
    );
    const versions = new Map<number, number>();
    // 32-bit arithmetic: the float product of the old LCG lost its low bits (every index a
    // multiple of 8, 102 distinct files in 200 edits, the same file edited back to back).
    let seed = 12345;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 8;
    };
    // Two edits of one file inside one batch are one revision: the second edit's sample
    // would then match the revision of the file's next edit, seconds later. Edits within
    // RECENT of each other go to different files.
    const recent: number[] = [];
    const RECENT = 20;
    const interval = 1000 / args.rate;
    const start = performance.now();
    for (let n = 0; n < args.edits; n++) {
      const wait = start + n * interval - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      let i = next() % args.files;
      while (recent.includes(i)) i = next() % args.files;
      recent.push(i);
      if (recent.length > RECENT) recent.shift();
      const version = (versions.get(i) ?? 0) + 1;
      versions.set(i, version);
      // Revision 1 is the file as created; edit k makes revision k + 1.
      sent.set(`route-${i}#${version + 1}`, performance.now());
      await writeFile(fileOf(root.path, i), yamlOf(i, version));
    }
    // Give the last edits time to arrive (bounded: a lost edit shows as missing samples).
    const deadline = performance.now() + 5000;
    while (latencies.length < args.edits && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await stopCrwatch(running);
    return {
      files: args.files,
      edits: args.edits,
      ratePerSecond: args.rate,
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      samples: latencies.length,
      // The share of it until the change was committed (the rest is the dispatcher's).
      ...(process.env.BENCH_DEBUG && { series: toCommit.map(Math.round) }),
      commitP50: round(percentile(toCommit, 50)),
      commitP99: round(percentile(toCommit, 99)),
      peakRssMiB: peakRssMib(),
    };
  } finally {
    await root.cleanup();
    await data.cleanup();
  }
}
