import { fork } from "node:child_process";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
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
import { percentile, RssSampler } from "./stats.js";

/** The figures: 1,000 subscribers, 100 changes per second; shrink with the env. */
const SUBSCRIBERS = Number(process.env.BENCH_WATCH_SUBSCRIBERS ?? 1000);
const RATE = Number(process.env.BENCH_WATCH_RATE ?? 100);
const SECONDS = Number(process.env.BENCH_WATCH_SECONDS ?? 10);
const TOKEN = "bench-token-0123456789";

interface Phase {
  delivered: number;
  expected: number;
  ratePerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  peakRssMiB: number;
}

interface Clients {
  /** Stops the clients and returns each event's latency in ms. */
  stop(): Promise<number[]>;
}

/** Connects `n` SSE clients in a child process (see watch-client.ts). */
async function connect(url: string, n: number, sentAt: Map<number, number>): Promise<Clients> {
  const child = fork(fileURLToPath(new URL("./watch-client.js", import.meta.url)), [
    url,
    String(n),
    TOKEN,
  ]);
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`bench clients exited with ${code}`)));
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        child.once("message", (m) => {
          const { seqs, times } = m as { seqs: number[]; times: number[] };
          const latencies = seqs.map(
            (seq, i) => (times[i] as number) - (sentAt.get(seq) ?? Number.NaN),
          );
          resolve(latencies.filter(Number.isFinite));
        });
        child.send("stop");
      }),
  };
}

/** Commits RATE changes a second for SECONDS, calling `sent` after each commit. */
async function drive(store: Store, sentAt: Map<number, number>, sent: (c: Change) => void) {
  const total = RATE * SECONDS;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
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

/** Lets the last events arrive: a fixed grace period, then whatever did not arrive counts as lost. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, Number(process.env.BENCH_WATCH_GRACE_MS ?? 3000)));
}

function phase(latencies: number[], expected: number, ms: number, rss: number): Phase {
  return {
    delivered: latencies.length,
    expected,
    // Events delivered per second of sending (the offered rate when every client keeps up).
    ratePerS: Math.round((latencies.length / ms) * 1000),
    p50Ms: Number(percentile(latencies, 50).toFixed(2)),
    p99Ms: Number(percentile(latencies, 99).toFixed(2)),
    maxMs: Number(percentile(latencies, 100).toFixed(2)),
    peakRssMiB: rss,
  };
}

/** A raw node:http SSE broadcast of the same committed changes: the baseline. */
async function raw(): Promise<Phase> {
  const dir = await tempDir("crwatch-bench-raw-");
  const store = await openSqliteStore({ dir: dir.path });
  const clients = new Set<ServerResponse>();
  const server = createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.write("retry: 2000\n\n");
    clients.add(res);
    res.on("close", () => clients.delete(res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const sentAt = new Map<number, number>();
  const clientProcess = await connect(url, SUBSCRIBERS, sentAt);
  const rss = new RssSampler();
  const start = performance.now();
  const total = await drive(store, sentAt, (change) => {
    // Encoded once and the same bytes written to every client: the fastest plain broadcast.
    const event = Buffer.from(
      `id: ${change.seq}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`,
    );
    for (const res of clients) res.write(event);
  });
  const sending = performance.now() - start;
  await settle();
  const peak = rss.stop();
  const result = phase(await clientProcess.stop(), total * SUBSCRIBERS, sending, peak);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await store.close();
  await dir.cleanup();
  return result;
}

/** crwatch's API: commits wake the hub through the notifier, as ingest does in `serve`. */
async function crwatch(): Promise<Phase> {
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
  const sentAt = new Map<number, number>();
  const clientProcess = await connect(`${server.url}/api/v1/watch`, SUBSCRIBERS, sentAt);
  const rss = new RssSampler();
  const start = performance.now();
  const total = await drive(store, sentAt, () => {
    for (const l of listeners) l();
  });
  const sending = performance.now() - start;
  await settle();
  const peak = rss.stop();
  const result = phase(await clientProcess.stop(), total * SUBSCRIBERS, sending, peak);
  await server.stop();
  await store.close();
  await dir.cleanup();
  return result;
}

export async function watchScenario(): Promise<Record<string, unknown>> {
  const baseline = await raw();
  const api = await crwatch();
  return {
    scenario: "watch",
    subscribers: SUBSCRIBERS,
    changesPerS: RATE,
    seconds: SECONDS,
    rawSse: baseline,
    crwatch: api,
    rateVsRaw: Number((api.ratePerS / baseline.ratePerS).toFixed(3)),
  };
}
