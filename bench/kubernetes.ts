import { spawn } from "node:child_process";
import { once } from "node:events";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { systemClock } from "../src/core/clock.js";
import { createMasker } from "../src/core/mask.js";
import { Ingest } from "../src/ingest/pipeline.js";
import type { Observation, ObservedObject } from "../src/model/observation.js";
import { createKubernetesSource } from "../src/sources/kubernetes/source.js";
import { SourceRuntime } from "../src/sources/runtime.js";
import { openSqliteStore } from "../src/store/sqlite/store.js";
import { writeKubeconfig } from "../test/fake-kube/fixtures.js";
import { tempDir } from "../test/helpers.js";
import { GcTimer, mainThreadCpuMs } from "./cpu.js";
import { benchWorkers, buildSetup } from "./ingest.js";
import { crwatchInChild, peakRssMib, percentile, RssSampler, round, vsTarget } from "./stats.js";

const GW = "gateway.networking.k8s.io";

export interface KubernetesTaskArgs {
  objects: number;
  /** Watch events per second, and for how long. */
  rate: number;
  seconds: number;
  /** Objects per list page (the source's `pageSize`); the source's default when unset. */
  pageSize?: number;
  workers: number;
}

/**
 * Issue 8's scenarios (a) and (b), measured in a child process under the heap flags
 * `crwatch serve` starts with (what users get, decision 0029), each figure beside its
 * target. The environment can shrink them for a quick look: BENCH_K8S_OBJECTS,
 * BENCH_K8S_RATE, BENCH_K8S_SECONDS (0: no watch burst), BENCH_K8S_PAGE, BENCH_WORKERS.
 * To profile: `node --cpu-prof dist/bench/child.js kubernetes '{"objects":20000,…}'`.
 */
export async function kubernetesScenario(): Promise<Record<string, unknown>> {
  const env = process.env;
  const args: KubernetesTaskArgs = {
    objects: Number(env.BENCH_K8S_OBJECTS ?? 100_000),
    rate: Number(env.BENCH_K8S_RATE ?? 10_000),
    seconds: Number(env.BENCH_K8S_SECONDS ?? 30),
    ...(env.BENCH_K8S_PAGE && { pageSize: Number(env.BENCH_K8S_PAGE) }),
    workers: benchWorkers(),
  };
  const r = await crwatchInChild("kubernetes", { ...args });
  const num = (key: string) => r[key] as number;
  return {
    scenario: "kubernetes",
    targets: {
      syncMs: vsTarget(num("syncMs"), 10_000, "lower"),
      syncVsKubectlRaw: vsTarget(num("syncVsRaw"), 3, "lower"),
      // 80 MiB + 1 KiB per watched resource (issue 8).
      syncPeakRssMiB: vsTarget(num("syncPeakRssMiB"), 80 + args.objects / 1024, "lower"),
      ...(args.seconds > 0 && {
        watchKeptUp: { value: r.keptUp, target: true, holds: r.keptUp === true },
      }),
    },
    ...r,
    loadAverage1m: round(loadavg()[0]!),
  };
}

/**
 * (a) initial sync of `objects` HTTPRoutes from the fake API server (in another process)
 * through the Kubernetes source, ingest and SQLite, beside `kubectl get --raw` of the same
 * list in the same run; (b) `rate` watch events per second for `seconds`: event-to-commit
 * latency. CPU per object (sync) and per event (watch) is given for this process, for its
 * main thread alone, and for the server.
 */
export async function kubernetesTask(args: KubernetesTaskArgs): Promise<Record<string, unknown>> {
  const { objects: OBJECTS, rate: RATE, seconds: SECONDS, pageSize: PAGE, workers } = args;
  const dir = await tempDir("crwatch-bench-k8s-");
  const script = fileURLToPath(new URL("./fake-kube-serve.js", import.meta.url));
  // The server runs with this process's flags, so `node --cpu-prof` profiles both; not
  // with serve's heap limits (it is not what is measured, and it holds far more).
  const child = spawn(process.execPath, [...process.execArgv, script, String(OBJECTS)], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, NODE_OPTIONS: withoutHeapFlags(process.env.NODE_OPTIONS) },
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  try {
    const url = String((await lines.next()).value);
    /** The fake server's CPU time so far, in µs (it answers `cpu` on stdin). */
    const serverCpu = async () => {
      child.stdin!.write("cpu\n");
      return Number(String((await lines.next()).value).split(" ")[1]);
    };
    const kubeconfig = await writeKubeconfig(dir.path, url);
    const baselineMs = await rawList(kubeconfig);
    const store = await openSqliteStore({ dir: dir.path });
    const ingest = new Ingest({
      store,
      masker: createMasker({ key: Buffer.alloc(32, 1) }),
      log: pino({ level: "silent" }),
      ...buildSetup({ rules: false, workers }),
    });
    const latencies: number[] = [];
    let watching = false;
    const baseRss = process.memoryUsage().rss;
    const rss = new RssSampler();
    const runtime = new SourceRuntime(
      [
        createKubernetesSource({
          name: "bench",
          type: "kubernetes",
          kubeconfig,
          resources: [`${GW}/HTTPRoute`],
          ...(PAGE && { pageSize: PAGE }),
        }),
      ],
      {
        commit: async (o: Observation) => {
          await ingest.accept(o);
          if (watching) recordLatency(o, latencies);
        },
        loadCursors: (s) => store.getSourceCursors(s),
        onHealth: () => undefined,
        log: pino({ level: "silent" }),
        clock: systemClock,
      },
    );
    const server0 = await serverCpu();
    const cpu0 = process.cpuUsage();
    const thread0 = mainThreadCpuMs();
    const gc = new GcTimer();
    const started = performance.now();
    runtime.start();
    await runtime.ready();
    const syncMs = performance.now() - started;
    const syncCpu = cpuUs(process.cpuUsage(cpu0));
    const syncThreadMs = mainThreadCpuMs() - thread0;
    const syncGcMs = gc.stop();
    const server1 = await serverCpu();
    const syncRssMiB = rss.stop();
    const afterSync = memoryNow();
    watching = true;
    const cpu1 = process.cpuUsage();
    const thread1 = mainThreadCpuMs();
    child.stdin!.write(`burst ${RATE} ${SECONDS}\n`);
    const done = String((await lines.next()).value);
    const written = Number(done.split(" ")[1]);
    const committedAtBurstEnd = latencies.length;
    const burstEnded = performance.now();
    const deadline = Date.now() + 60_000;
    while (latencies.length < written && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const catchUpMs = performance.now() - burstEnded;
    const watchCpu = cpuUs(process.cpuUsage(cpu1));
    const watchThreadMs = mainThreadCpuMs() - thread1;
    const server2 = await serverCpu();
    await runtime.stop();
    await ingest.close();
    await store.close();
    return {
      buildWorkers: workers,
      objects: OBJECTS,
      pageSize: PAGE ?? "default",
      syncMs: Math.round(syncMs),
      kubectlRawListMs: baselineMs === undefined ? "kubectl not installed" : Math.round(baselineMs),
      syncVsRaw: baselineMs ? Number((syncMs / baselineMs).toFixed(2)) : null,
      syncCpuUsPerObject: Math.round(syncCpu / OBJECTS),
      // The source's and ingest's thread alone: the serial part, what bounds the sync.
      syncMainThreadCpuUsPerObject: Math.round((syncThreadMs * 1000) / OBJECTS),
      syncGcPauseMs: syncGcMs,
      syncServerCpuUsPerObject: Math.round((server1 - server0) / OBJECTS),
      syncPeakRssMiB: syncRssMiB,
      wholeRunPeakRssMiB: peakRssMib(),
      afterSync,
      rssAboveStartKiBPerObject: Number(
        ((syncRssMiB * 1024 * 1024 - baseRss) / 1024 / OBJECTS).toFixed(2),
      ),
      ...(SECONDS > 0 && {
        watchRatePerS: RATE,
        watchSeconds: SECONDS,
        eventsWritten: written,
        eventsCommitted: latencies.length,
        committedAtBurstEnd,
        catchUpMsAfterBurst: Math.round(catchUpMs),
        allCommitted: latencies.length >= written,
        // Kept up: every event committed within a second of the burst's end.
        keptUp: latencies.length >= written && catchUpMs <= 1000,
        watchCpuUsPerEvent: Math.round(watchCpu / Math.max(1, latencies.length)),
        watchMainThreadCpuUsPerEvent: Math.round(
          (watchThreadMs * 1000) / Math.max(1, latencies.length),
        ),
        watchServerCpuUsPerEvent: Math.round((server2 - server1) / Math.max(1, written)),
        latencyP50Ms: Math.round(percentile(latencies, 50)),
        latencyP99Ms: Math.round(percentile(latencies, 99)),
      }),
    };
  } finally {
    child.stdin!.end("quit\n");
    await once(child, "exit").catch(() => undefined);
    await dir.cleanup();
  }
}

/** NODE_OPTIONS without the V8 heap limits (`crwatchInChild` puts serve's there). */
function withoutHeapFlags(options: string | undefined): string {
  return (options ?? "")
    .split(/\s+/)
    .filter((flag) => flag && !/^--max[-_](old|semi)[-_]space[-_]size/.test(flag))
    .join(" ");
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);

/**
 * Where the memory is, right after the sync: RSS, V8's heap (reserved and in use), and, when
 * node runs with --expose-gc, the heap still live after a full collection (what is held,
 * not garbage waiting for a collection).
 */
function memoryNow(): Record<string, number> {
  const usage = process.memoryUsage();
  const figures: Record<string, number> = {
    rssMiB: mib(usage.rss),
    heapTotalMiB: mib(usage.heapTotal),
    heapUsedMiB: mib(usage.heapUsed),
    externalMiB: mib(usage.external),
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    figures.liveHeapAfterFullGcMiB = mib(process.memoryUsage().heapUsed);
    figures.rssAfterFullGcMiB = mib(process.memoryUsage().rss);
  }
  return figures;
}

function cpuUs(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

function recordLatency(o: Observation, latencies: number[]): void {
  const now = Date.now();
  for (const e of o.events) {
    if (e.type !== "upsert") continue;
    const at = Number(benchAt(e.item));
    if (at > 0) latencies.push(now - at);
  }
}

/**
 * The write time the server stamped on an object. Read from the item's text when it has one:
 * reading `object` would parse it in this process, whose CPU per event the bench reports.
 */
function benchAt(item: ObservedObject): string | undefined {
  if (item.json !== undefined) return /"bench\/at":"(\d+)"/.exec(item.json)?.[1];
  return (item.object.metadata as { annotations?: Record<string, string> }).annotations?.[
    "bench/at"
  ];
}

/**
 * `kubectl get --raw` of the whole list, timed; undefined without kubectl. Its output goes
 * to /dev/null: buffered here, the 300 MB of a 100k list would stay in this process's RSS,
 * which the sync's memory figure measures.
 */
async function rawList(kubeconfig: string): Promise<number | undefined> {
  const started = performance.now();
  const kubectl = spawn("kubectl", ["get", "--raw", `/apis/${GW}/v1/httproutes`], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  kubectl.stderr.on("data", (chunk) => {
    stderr += String(chunk);
  });
  const exit = await new Promise<number | "missing">((resolve, reject) => {
    kubectl.on("error", (err: NodeJS.ErrnoException) =>
      err.code === "ENOENT" ? resolve("missing") : reject(err),
    );
    kubectl.on("close", (code) => resolve(code ?? 1));
  });
  if (exit === "missing") return undefined;
  if (exit !== 0) throw new Error(`kubectl get --raw failed (${exit}): ${stderr}`);
  return performance.now() - started;
}
