import { type ChildProcess, fork } from "node:child_process";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { tokenDigest } from "../src/api/auth.js";
import { apiWithDefaults } from "../src/api/config.js";
import type { CommitNotifier } from "../src/api/notifier.js";
import { startApiServer } from "../src/api/server.js";
import { systemClock } from "../src/core/clock.js";
import type { Change } from "../src/model/change.js";
import { batchOf, resourceChange, routeRef } from "../src/store/contract.js";
import { openSqliteStore } from "../src/store/sqlite/store.js";
import type { Store } from "../src/store/store.js";
import { tempDir } from "../test/helpers.js";
import { crwatchInChild, inChild, peakRssMib, percentile, round, vsTarget } from "./stats.js";

/** The figures: 1,000 subscribers, 100 changes per second; shrink with the env. */
const env = process.env;
const SUBSCRIBERS = Number(env.BENCH_WATCH_SUBSCRIBERS ?? 1000);
const RATE = Number(env.BENCH_WATCH_RATE ?? 100);
const SECONDS = Number(env.BENCH_WATCH_SECONDS ?? 10);
/** Client processes the subscribers are spread over (each its own event loop). */
const CLIENT_PROCESSES = Number(env.BENCH_WATCH_CLIENT_PROCESSES ?? 2);
const GRACE_MS = Number(env.BENCH_WATCH_GRACE_MS ?? 3000);
/** Raw and crwatch alternate this many times, so a burst of other work hits both alike. */
const ROUNDS = Number(env.BENCH_WATCH_ROUNDS ?? 3);
const TOKEN = "bench-token-0123456789";

export interface WatchTaskArgs {
  /** Raw baseline only: HTTP chunked bodies (Node's default) or close-delimited ones. */
  framing?: "chunked" | "close";
  subscribers: number;
  rate: number;
  seconds: number;
  clientProcesses: number;
  graceMs: number;
}

interface Received {
  seqs: Float64Array;
  times: Float64Array;
  cpuMs: number;
}

interface Clients {
  /** Stops the clients; each event's latency in ms, and the clients' CPU time. */
  stop(sentAt: Map<number, number>): Promise<{ latencies: number[]; cpuMs: number }>;
}

/** Connects `n` SSE clients spread over `processes` child processes (see watch-client.ts). */
async function connect(url: string, args: WatchTaskArgs): Promise<Clients> {
  const script = fileURLToPath(new URL("./watch-client.js", import.meta.url));
  const per = Math.ceil(args.subscribers / args.clientProcesses);
  const children: ChildProcess[] = [];
  for (let left = args.subscribers; left > 0; left -= per) {
    const n = Math.min(per, left);
    const capacity = n * args.rate * args.seconds + 1024;
    const child = fork(script, [url, String(n), TOKEN, String(capacity)], {
      serialization: "advanced",
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once("message", () => resolve());
      child.once("exit", (code) => reject(new Error(`bench clients exited with ${code}`)));
    });
  }
  return {
    async stop(sentAt) {
      const answers = await Promise.all(
        children.map(
          (child) =>
            new Promise<Received>((resolve) => {
              child.removeAllListeners("exit");
              child.once("message", (m) => resolve(m as Received));
              child.send("stop");
            }),
        ),
      );
      const latencies: number[] = [];
      let cpuMs = 0;
      for (const { seqs, times, cpuMs: cpu } of answers) {
        cpuMs += cpu;
        for (let i = 0; i < seqs.length; i++) {
          const sent = sentAt.get(seqs[i] as number);
          if (sent !== undefined) latencies.push((times[i] as number) - sent);
        }
      }
      return { latencies, cpuMs };
    },
  };
}

/** Commits `rate` changes a second for `seconds`, calling `sent` after each commit. */
async function drive(
  store: Store,
  args: WatchTaskArgs,
  sentAt: Map<number, number>,
  sent: (c: Change) => void,
): Promise<number> {
  const total = args.rate * args.seconds;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / args.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const change = resourceChange(i === 0 ? "ADDED" : "MODIFIED", routeRef("bench"), i + 1);
    const t = performance.timeOrigin + performance.now();
    const [committed] = await store.commit(batchOf([change]));
    sentAt.set((committed as Change).seq, t);
    sent(committed as Change);
  }
  return total;
}

/**
 * Connects the clients, drives the commits, lets the last events arrive (a fixed grace
 * period; whatever has not arrived by then counts as lost) and measures.
 */
async function measure(
  url: string,
  store: Store,
  args: WatchTaskArgs,
  sent: (c: Change) => void,
): Promise<Record<string, unknown>> {
  const clients = await connect(url, args);
  const sentAt = new Map<number, number>();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const total = await drive(store, args, sentAt, sent);
  const sendingMs = performance.now() - start;
  await new Promise((r) => setTimeout(r, args.graceMs));
  const serverCpu = process.cpuUsage(cpu);
  const { latencies, cpuMs } = await clients.stop(sentAt);
  return {
    delivered: latencies.length,
    expected: total * args.subscribers,
    // Events delivered per second of sending (the offered rate when every client keeps up).
    ratePerS: Math.round((latencies.length / sendingMs) * 1000),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(percentile(latencies, 100)),
    peakRssMiB: peakRssMib(),
    serverCpuMs: Math.round((serverCpu.user + serverCpu.system) / 1000),
    clientCpuMs: cpuMs,
  };
}

/** The baseline: a plain node:http SSE broadcast of the same committed changes. */
export async function watchRawTask(args: WatchTaskArgs): Promise<Record<string, unknown>> {
  const dir = await tempDir("crwatch-bench-raw-");
  const store = await openSqliteStore({ dir: dir.path });
  const clients = new Set<ServerResponse>();
  const server = createServer((_req, res) => {
    // "close": the framing crwatch uses (one plain socket write per event), for a like pair.
    if (args.framing === "close") {
      res.removeHeader("Transfer-Encoding");
      res.shouldKeepAlive = false;
    }
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.write("retry: 2000\n\n");
    clients.add(res);
    res.on("close", () => clients.delete(res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const result = await measure(url, store, args, (change) => {
    // Encoded once and the same bytes written to every client: the fastest plain broadcast.
    const event = Buffer.from(
      `id: ${change.seq}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`,
    );
    for (const res of clients) res.write(event);
  });
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await store.close();
  await dir.cleanup();
  return { phase: args.framing === "close" ? "raw-sse-close-delimited" : "raw-sse", ...result };
}

/** crwatch's API: commits wake the watch hub through the notifier, as ingest does in `serve`. */
export async function watchCrwatchTask(args: WatchTaskArgs): Promise<Record<string, unknown>> {
  const dir = await tempDir("crwatch-bench-watch-");
  const store = await openSqliteStore({ dir: dir.path });
  const listeners = new Set<() => void>();
  const notifier: CommitNotifier = {
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const server = await startApiServer({
    store,
    config: apiWithDefaults({
      listen: "127.0.0.1:0",
      tokens: [{ name: "bench", role: "viewer", sha256: tokenDigest(TOKEN) }],
    }),
    sources: [],
    sinks: [],
    notifier,
    logger: pino({ level: "silent" }),
    clock: systemClock,
  });
  const result = await measure(`${server.url}/api/v1/watch`, store, args, () => {
    for (const l of listeners) l();
  });
  await server.stop();
  await store.close();
  await dir.cleanup();
  return { phase: "crwatch", ...result };
}

const num = (r: Record<string, unknown>, key: string) => r[key] as number;

/** The round whose crwatch p99 is the median of all rounds (the one reported as the figure). */
function medianRound<T extends { crwatch: Record<string, unknown> }>(rounds: T[]): T {
  const sorted = [...rounds].sort((a, b) => num(a.crwatch, "p99Ms") - num(b.crwatch, "p99Ms"));
  return sorted[Math.floor((sorted.length - 1) / 2)] as T;
}

/**
 * Each phase runs in a process of its own (its peak RSS is its own), with its clients in
 * further processes. Raw (chunked, Node's default), crwatch and raw with crwatch's
 * close-delimited framing alternate for ROUNDS rounds, as this machine's load
 * changes from one minute to the next; the figures are those of the median round (by
 * crwatch's p99), and every round is listed.
 */
export async function watchScenario(): Promise<Record<string, unknown>> {
  const args: WatchTaskArgs = {
    subscribers: SUBSCRIBERS,
    rate: RATE,
    seconds: SECONDS,
    clientProcesses: CLIENT_PROCESSES,
    graceMs: GRACE_MS,
  };
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    const raw = await inChild("watch-raw", { ...args });
    const crwatch = await crwatchInChild("watch-crwatch", { ...args });
    const rawClose = await inChild("watch-raw", { ...args, framing: "close" });
    rounds.push({ raw, crwatch, rawClose, loadAvg1m: round(loadavg()[0] as number) });
  }
  const { raw, crwatch: api, rawClose } = medianRound(rounds);
  const rateVsRaw = round(num(api, "ratePerS") / num(raw, "ratePerS"));
  return {
    scenario: "watch",
    ...args,
    rounds: ROUNDS,
    targets: {
      p99Ms: vsTarget(num(api, "p99Ms"), 100, "lower"),
      rateVsRaw: vsTarget(rateVsRaw, 0.7, "higher"),
      rawP99Ms: vsTarget(num(raw, "p99Ms"), 100, "lower"),
    },
    crwatch: api,
    baselines: [raw, rawClose],
    p50VsRaw: round(num(api, "p50Ms") / num(raw, "p50Ms")),
    p99VsRaw: round(num(api, "p99Ms") / num(raw, "p99Ms")),
    rssVsRaw: round(num(api, "peakRssMiB") / num(raw, "peakRssMiB")),
    // Against a raw broadcast with crwatch's framing: what is left is crwatch's own work.
    sameFraming: {
      p50VsRaw: round(num(api, "p50Ms") / num(rawClose, "p50Ms")),
      p99VsRaw: round(num(api, "p99Ms") / num(rawClose, "p99Ms")),
      rateVsRaw: round(num(api, "ratePerS") / num(rawClose, "ratePerS")),
      serverCpuVsRaw: round(num(api, "serverCpuMs") / num(rawClose, "serverCpuMs")),
    },
    everyRound: rounds.map((r) => ({
      loadAvg1m: r.loadAvg1m,
      raw: pick(r.raw),
      crwatch: pick(r.crwatch),
      rawCloseDelimited: pick(r.rawClose),
    })),
  };
}

function pick(r: Record<string, unknown>) {
  const { p50Ms, p99Ms, delivered, peakRssMiB, serverCpuMs } = r;
  return { p50Ms, p99Ms, delivered, peakRssMiB, serverCpuMs };
}
