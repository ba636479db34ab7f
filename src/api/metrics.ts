import { Hono, type MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ApiEnv } from "./auth.js";
import type { ApiDeps } from "./deps.js";
import type { StreamEnd } from "./watch-hub.js";

const STATUSES = ["starting", "ok", "degraded", "failed", "stopped"] as const;

/**
 * The API's Prometheus registry (one per app, so tests can build several). Log-derived
 * figures are read from the store at scrape time: the API never sees the pipeline.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<"method" | "route" | "status">;
  readonly watchEnded: Counter<"reason">;

  constructor(deps: ApiDeps, watchers: () => number) {
    const registers = [this.registry];
    const { store } = deps;
    this.httpDuration = new Histogram({
      name: "crwatch_http_request_duration_seconds",
      help: "HTTP request latency by route and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.watchEnded = new Counter({
      name: "crwatch_watch_streams_ended_total",
      help: "watch streams ended, by reason (client, slow, shutdown, error)",
      labelNames: ["reason"],
      registers,
    });
    new Gauge({
      name: "crwatch_watch_streams",
      help: "open watch streams",
      registers,
      collect() {
        this.set(watchers());
      },
    });
    new Gauge({
      name: "crwatch_changes_total",
      help: "changes recorded in the log (its last seq)",
      registers,
      async collect() {
        this.set(await store.lastSeq());
      },
    });
    new Gauge({
      name: "crwatch_source_status",
      help: "1 for each source's current status",
      labelNames: ["source", "status"],
      registers,
      async collect() {
        this.reset();
        for (const h of await store.listSourceHealth()) {
          for (const s of STATUSES)
            this.set({ source: h.source, status: s }, h.status === s ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "crwatch_source_restarts",
      help: "restarts of each source since it was last ready (its errors)",
      labelNames: ["source"],
      registers,
      async collect() {
        this.reset();
        for (const h of await store.listSourceHealth())
          this.set({ source: h.source }, h.attempts ?? 0);
      },
    });
    new Gauge({
      name: "crwatch_source_health_age_seconds",
      help: "seconds since each source last reported its health",
      labelNames: ["source"],
      registers,
      async collect() {
        this.reset();
        const now = Date.now();
        for (const h of await store.listSourceHealth()) {
          this.set({ source: h.source }, Math.max(0, (now - Date.parse(h.updatedAt)) / 1000));
        }
      },
    });
    sinkGauges(deps, registers);
  }
}

function sinkGauges(deps: ApiDeps, registers: Registry[]): void {
  const { store } = deps;
  new Gauge({
    name: "crwatch_sink_lag_changes",
    help: "changes in the log that a sink has not yet delivered",
    labelNames: ["sink"],
    registers,
    async collect() {
      const last = await store.lastSeq();
      for (const sink of deps.sinks) {
        this.set({ sink: sink.name }, last - (await store.getConsumerCursor(sink.consumer)));
      }
    },
  });
  new Gauge({
    name: "crwatch_sink_delivered_seq",
    help: "the last seq each sink has delivered (or given up on)",
    labelNames: ["sink"],
    registers,
    async collect() {
      for (const sink of deps.sinks) {
        this.set({ sink: sink.name }, await store.getConsumerCursor(sink.consumer));
      }
    },
  });
  new Gauge({
    name: "crwatch_sink_dead_letters",
    help: "dead letters per sink",
    labelNames: ["sink"],
    registers,
    async collect() {
      const letters = await store.listDeadLetters();
      for (const sink of deps.sinks) {
        this.set({ sink: sink.name }, letters.filter((l) => l.consumer === sink.consumer).length);
      }
    },
  });
}

/** Times each request by its route pattern (not its path, which would explode the labels). */
export function timeRequests(metrics: ApiMetrics, logger: Logger): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const end = metrics.httpDuration.startTimer();
    await next();
    const route = routePath(c, -1);
    const seconds = end({ method: c.req.method, route, status: String(c.res.status) });
    // Method, route and status only: headers (tokens) and query strings are never logged.
    logger.debug({ method: c.req.method, route, status: c.res.status, seconds }, "request");
  };
}

export function metricsRoutes(metrics: ApiMetrics): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/metrics", async (c) => {
    const body = await metrics.registry.metrics();
    return c.body(body, 200, { "Content-Type": metrics.registry.contentType });
  });
  return app;
}

export function countStreamEnd(metrics: ApiMetrics): (reason: StreamEnd) => void {
  return (reason) => metrics.watchEnded.inc({ reason });
}
