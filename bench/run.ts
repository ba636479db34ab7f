import { loadavg } from "node:os";
import { join } from "node:path";
import { tempDir } from "../test/helpers.js";
import { diffScenario, lintScenario } from "./ci.js";
import { makeTree } from "./files.js";
import { benchTextInput, benchWorkers } from "./ingest.js";
import { kubernetesScenario } from "./kubernetes.js";
import { pollScenario } from "./poll.js";
import { rulesScenario } from "./rules.js";
import { sinksScenario } from "./sinks.js";
import { crwatchInChild, inChild, round, vsTarget } from "./stats.js";
import { watchScenario } from "./watch.js";

/**
 * `npm run bench [-- NAME…]`: each scenario prints one JSON line, every figure beside its
 * target and beside baselines measured in the same run. Every measurement runs in its own
 * process, so its peak RSS is its own. Sizes (issue 7's by default) can be shrunk:
 * BENCH_RESOURCES, BENCH_CHANGES (ingest), BENCH_MEMORY_SIZES, BENCH_FILES_SIZES,
 * BENCH_COLD_SIZES (comma-separated), BENCH_FILES_EDITS. The 100k-file cold start is opt-in
 * (BENCH_LARGE=1): with today's files source it takes several minutes on 2 cores.
 */
const env = process.env;
const large = env.BENCH_LARGE === "1";
const sizes = (name: string, fallback: number[]) =>
  env[name] ? env[name]!.split(",").map(Number) : fallback;

const RESOURCES = Number(env.BENCH_RESOURCES ?? 10_000);
const CHANGES = Number(env.BENCH_CHANGES ?? 100_000);
const MEMORY_SIZES = sizes("BENCH_MEMORY_SIZES", [10_000, 100_000]);
const FILES_SIZES = sizes("BENCH_FILES_SIZES", [1_000, 10_000]);
const COLD_SIZES = sizes("BENCH_COLD_SIZES", large ? [10_000, 100_000] : [10_000]);
const EDITS = Number(env.BENCH_FILES_EDITS ?? 200);

/** Issue 7's memory target: 80 MiB + 1 KiB per resource. */
const memoryTarget = (resources: number) => 80 + resources / 1024;
const num = (r: Record<string, unknown>, key: string) => r[key] as number;

async function ingest(name: string, rules: boolean): Promise<Record<string, unknown>> {
  const crwatch = await crwatchInChild("crwatch-ingest", {
    resources: RESOURCES,
    changes: CHANGES,
    latency: true,
    rules,
    workers: benchWorkers(),
    text: benchTextInput(),
  });
  const perTransaction = num(crwatch, "meanChangesPerCommit");
  const args = { resources: RESOURCES, changes: CHANGES, perTransaction };
  const naive = await inChild("naive-pipeline", args);
  const raw = await inChild("sqlite-raw-insert", args);
  const ratio = round(num(crwatch, "changesPerSecond") / num(naive, "changesPerSecond"));
  return {
    scenario: name,
    resources: RESOURCES,
    ...crwatch,
    targets: {
      ratioToBaseline: vsTarget(ratio, 1.2, "higher"),
      peakRssMiB: vsTarget(num(crwatch, "peakRssMiB"), memoryTarget(RESOURCES), "lower"),
    },
    baselines: [naive, raw],
    ratioToBaseline: ratio,
    ratioToRawInsert: round(num(crwatch, "changesPerSecond") / num(raw, "changesPerSecond")),
    // The same comparison in CPU per change: steadier than throughput on a shared machine.
    cpuRatioToBaseline: round(
      num(naive, "cpuUsPerChange") / (crwatch.cpuUsPerChange as { total: number }).total,
    ),
    loadAverage1m: round(loadavg()[0]!),
  };
}

async function memory(): Promise<Record<string, unknown>> {
  const runs = [];
  for (const resources of MEMORY_SIZES) {
    const r = await crwatchInChild("crwatch-ingest", {
      resources,
      changes: resources,
      latency: false,
    });
    runs.push({
      resources,
      heapFlags: r.heapFlags,
      changesPerSecond: r.changesPerSecond,
      peakRssMiB: vsTarget(num(r, "peakRssMiB"), memoryTarget(resources), "lower"),
    });
  }
  return { scenario: "memory", runs };
}

async function filesLatency(): Promise<Record<string, unknown>> {
  const runs = [];
  for (const files of FILES_SIZES) {
    const r = await crwatchInChild("files-latency", { files, edits: EDITS, rate: 20 });
    runs.push({
      files,
      heapFlags: r.heapFlags,
      edits: EDITS,
      ratePerSecond: 20,
      samples: r.samples,
      p50Ms: vsTarget(num(r, "p50"), 100, "lower"),
      p99Ms: vsTarget(num(r, "p99"), 250, "lower"),
      editToCommitMs: { p50: r.commitP50, p99: r.commitP99 },
      peakRssMiB: vsTarget(num(r, "peakRssMiB"), memoryTarget(files), "lower"),
    });
  }
  return { scenario: "files-latency", runs };
}

async function coldStart(): Promise<Record<string, unknown>> {
  const runs = [];
  for (const files of COLD_SIZES) {
    const tree = await tempDir("crwatch-bench-tree-");
    const data = await tempDir("crwatch-bench-data-");
    try {
      await makeTree(tree.path, files);
      const walkStat = await inChild("walk-with-stat", { root: tree.path });
      const readParse = await inChild("read-and-parse", { root: tree.path });
      const args = { root: tree.path, dataDir: join(data.path, "store") };
      const first = await crwatchInChild("start", args);
      const restart = await crwatchInChild("start", args);
      runs.push({
        files,
        heapFlags: first.heapFlags,
        firstStartMs: vsTarget(num(first, "ms"), 1.5 * num(readParse, "ms"), "lower"),
        restartMs: vsTarget(num(restart, "ms"), 2 * num(walkStat, "ms"), "lower"),
        firstStartPeakRssMiB: vsTarget(num(first, "peakRssMiB"), memoryTarget(files), "lower"),
        restartPeakRssMiB: vsTarget(num(restart, "peakRssMiB"), memoryTarget(files), "lower"),
        restartChangesDelivered: restart.changes,
        baselines: [walkStat, readParse],
      });
    } finally {
      await tree.cleanup();
      await data.cleanup();
    }
  }
  return { scenario: "cold-start", runs };
}

/** In a child under serve's heap limits, as the other measurements of crwatch (0029). */
async function postgresScenario(): Promise<Record<string, unknown>> {
  const result = await crwatchInChild("ingest-postgres", {});
  return { ...result, loadAverage1m: round(loadavg()[0]!) };
}

/** Each scenario prints one JSON line; `npm run bench -- NAME` runs one alone. */
const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  ingest: () => ingest("ingest", false),
  memory,
  "files-latency": filesLatency,
  "cold-start": coldStart,
  "ingest-rules": () => ingest("ingest-rules", true),
  rules: rulesScenario,
  watch: watchScenario,
  kubernetes: kubernetesScenario,
  sinks: sinksScenario,
  // In a child under serve's heap limits, like every crwatch measurement (decision 0029).
  git: () => crwatchInChild("git", {}),
  poll: pollScenario,
  "ingest-postgres": postgresScenario,
  lint: lintScenario,
  diff: diffScenario,
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in scenarios));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown scenario(s): ${unknown.join(", ")}; known: ${Object.keys(scenarios).join(", ")}\n`,
  );
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(scenarios)) {
  const result = await scenarios[name]!();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
