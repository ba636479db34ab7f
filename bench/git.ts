import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { stringify } from "yaml";
import { loadConfig } from "../src/config/load.js";
import { startCrwatch } from "../src/main.js";
import { tempDir } from "../test/helpers.js";
import { cpuMsSince, mainThreadCpuMs } from "./cpu.js";
import { makeRoute } from "./objects.js";
import { vsTarget } from "./stats.js";

/** The figures; the environment can shrink them for a quick look. */
const COMMITS = Number(process.env.BENCH_GIT_COMMITS ?? 5_000);
const MANIFESTS = Number(process.env.BENCH_GIT_MANIFESTS ?? 500);
/** `ingest.workers` of the config: "auto" (none on two cores) unless set. */
const INGEST_WORKERS = process.env.BENCH_GIT_INGEST_WORKERS;

function manifest(i: number, version: number): string {
  return stringify(makeRoute(i, version));
}

/** A fast-import stream: one commit adding every manifest, then commits editing 1–3 of them. */
function history(): string {
  const parts: string[] = [];
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  const versions = new Array<number>(MANIFESTS).fill(0);
  let time = Date.parse("2026-01-01T00:00:00Z") / 1000;
  for (let c = 0; c <= COMMITS; c++) {
    const who = c % 3 === 0 ? "Alice <alice@example.org>" : "Bob <bob@example.org>";
    parts.push(`commit refs/heads/main\nmark :${c + 1}\n`);
    parts.push(`author ${who} ${time} +0000\ncommitter ${who} ${time} +0000\n`);
    parts.push(data(c === 0 ? "Add all routes" : `Edit routes (${c})`));
    if (c > 0) parts.push(`from :${c}\n`);
    const touched =
      c === 0
        ? [...versions.keys()]
        : [(c * 7) % MANIFESTS, (c * 13) % MANIFESTS].slice(0, 1 + (c % 2));
    for (const i of touched) {
      if (c > 0) versions[i]! += 1;
      parts.push(`M 100644 inline routes/team-${i % 50}/route-${i}.yaml\n`);
      parts.push(data(manifest(i, versions[i]!)));
    }
    time += 60;
  }
  return parts.join("");
}

function git(cwd: string, args: string[], input?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, { cwd, stdio: ["pipe", "pipe", "inherit"] });
    let bytes = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(bytes) : reject(new Error(`git ${code}`))));
    // A git that reads nothing (init) may be gone before its stdin is closed: EPIPE there
    // is no failure, its exit code says.
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });
}

/**
 * Imports a repository of COMMITS commits over MANIFESTS manifests through the whole
 * pipeline (clone, walk, parse, ingest, SQLite), beside `git log -p` over the same history.
 */
export async function gitScenario(): Promise<Record<string, unknown>> {
  const dir = await tempDir("crwatch-bench-git-");
  try {
    const repo = join(dir.path, "repo");
    await git(dir.path, ["init", "--quiet", "--initial-branch", "main", repo]);
    await git(repo, ["fast-import", "--quiet"], history());

    const t0 = performance.now();
    const c0 = childrenCpuMs();
    const logBytes = await git(repo, ["log", "-p", "--reverse", "main"]);
    const gitLogSeconds = (performance.now() - t0) / 1000;
    const gitLogCpuMs = childrenCpuMs() - c0;

    const configPath = join(dir.path, "crwatch.yaml");
    await writeFile(
      configPath,
      stringify({
        store: { path: "./data" },
        ...(INGEST_WORKERS !== undefined && { ingest: { workers: Number(INGEST_WORKERS) } }),
        sources: [{ name: "repo", type: "git", url: "./repo", history: "full", interval: "1h" }],
        sinks: [],
      }),
    );
    const t1 = performance.now();
    const cpu = process.cpuUsage();
    const main0 = mainThreadCpuMs();
    const c1 = childrenCpuMs();
    const crwatch = await startCrwatch(await loadConfig({ configPath, env: {} }), {
      log: pino({ level: "silent" }),
    });
    await crwatch.ready();
    const seconds = (performance.now() - t1) / 1000;
    const processCpuMs = cpuMsSince(cpu);
    const mainCpuMs = mainThreadCpuMs() - main0;
    const changes = await crwatch.store.lastSeq();
    const stats = crwatch.ingest.stats();
    await crwatch.stop();
    // git's processes are counted once reaped: `cat-file --batch` lives until the stop.
    const gitCpuMs = childrenCpuMs() - c1;
    const commits = COMMITS + 1;
    // The target: within 3× of `git log -p` over the same history, in the same run.
    const slack = 3;
    const ingestMs = stats.buildMs + stats.commitMs;
    return {
      scenario: "git",
      commits,
      manifests: MANIFESTS,
      changes,
      seconds: round(seconds),
      commitsPerSecond: vsTarget(
        Math.round(commits / seconds),
        commits / gitLogSeconds / slack,
        "higher",
      ),
      changesPerSecond: vsTarget(
        Math.round(changes / seconds),
        changes / gitLogSeconds / slack,
        "higher",
      ),
      ratioToGitLog: vsTarget(round(seconds / gitLogSeconds), slack, "lower"),
      // CPU, not wall time: the machine is shared. crwatch's threads (main, parse and build
      // workers) and the git processes it ran, per change, beside `git log -p`'s. The main
      // thread (walk, hand-offs, ingest without build workers) is the serial part.
      cpuMicrosPerChange: {
        crwatch: Math.round((processCpuMs * 1000) / changes),
        mainThread: Math.round((mainCpuMs * 1000) / changes),
        git: Math.round((gitCpuMs * 1000) / changes),
        gitLogP: Math.round((gitLogCpuMs * 1000) / changes),
      },
      // Where the time went: ingest (build and SQLite commit, on the main thread) and the
      // transactions it took (observations in flight fold into shared ones).
      ingest: {
        ms: Math.round(ingestMs),
        buildMs: Math.round(stats.buildMs),
        commitMs: Math.round(stats.commitMs),
        shareOfRun: round(ingestMs / 1000 / seconds),
        transactions: stats.commits,
        changesPerSecondOfIngestTime: Math.round(changes / (ingestMs / 1000)),
      },
      baseline: {
        name: "git log -p --reverse",
        seconds: round(gitLogSeconds),
        bytes: logBytes,
        commitsPerSecond: Math.round(commits / gitLogSeconds),
        changesPerSecond: Math.round(changes / gitLogSeconds),
      },
      loadAverage1m: round(loadavg()[0]!),
    };
  } finally {
    await dir.cleanup();
  }
}

/**
 * CPU time (user + system) of this process's children that have exited and been waited
 * for, from /proc (Linux; 0 elsewhere). Node has no getrusage(RUSAGE_CHILDREN).
 */
function childrenCpuMs(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // cutime and cstime are fields 16 and 17 of stat(5); the slice starts at field 3.
    const ticks = Number(fields[13]) + Number(fields[14]);
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
/** USER_HZ: 100 on every Linux Node runs on. */
const CLOCK_TICKS = 100;

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
