import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { systemClock } from "../core/clock.js";
import { CrwatchError, errorMessage } from "../model/errors.js";
import { type ApiEnv, authenticate, authRoutes } from "./auth.js";
import { changeRoutes } from "./changes.js";
import { parseListen } from "./config.js";
import type { ApiDeps } from "./deps.js";
import { ApiError, errorHandler, notFoundHandler } from "./errors.js";
import { healthRoutes } from "./health.js";
import { ApiMetrics, countStreamEnd, metricsRoutes, timeRequests } from "./metrics.js";
import { openApiRoutes } from "./openapi.js";
import { resourceRoutes } from "./resources.js";
import { requireUnscoped } from "./scope.js";
import { sinkRoutes } from "./sinks.js";
import { sourceRoutes } from "./sources.js";
import { uiRoutes } from "./ui.js";
import { watchRoutes } from "./watch.js";
import { WatchHub } from "./watch-hub.js";

export interface Api {
  app: Hono<ApiEnv>;
  hub: WatchHub;
  metrics: ApiMetrics;
  /** Ends the watch streams. */
  close(): Promise<void>;
}

/** Builds the app (routes, auth, limits, errors) and its watch hub; nothing listens yet. */
export async function buildApi(deps: ApiDeps): Promise<Api> {
  const clock = deps.clock ?? systemClock;
  let hub: WatchHub | undefined;
  const metrics = new ApiMetrics(deps, () => hub?.size ?? 0);
  hub = new WatchHub({
    log: deps.store,
    notifier: deps.notifier,
    clock,
    logger: deps.logger.child({ component: "watch" }),
    maxBuffered: deps.config.watch.maxBuffered,
    heartbeatMs: deps.config.watch.heartbeatMs,
    onStreamEnd: countStreamEnd(metrics),
  });
  await hub.start();

  const app = new Hono<ApiEnv>();
  app.onError(errorHandler(deps.logger));
  app.notFound(notFoundHandler);
  app.use("*", timeRequests(metrics, deps.logger));
  app.use(
    "*",
    bodyLimit({
      maxSize: deps.config.maxBodyBytes,
      onError: () => {
        throw new ApiError(
          413,
          "CRW_API_BODY_TOO_LARGE",
          `request bodies are limited to ${deps.config.maxBodyBytes} bytes`,
        );
      },
    }),
  );
  app.route("/", healthRoutes(deps));
  app.route("/", uiRoutes());
  const auth = authenticate(deps.config);
  app.use("/api/*", auth);
  app.use("/metrics", auth);
  // Figures of every source and sink: not for a token scoped to a part of them.
  app.use("/metrics", requireUnscoped());
  app.route("/", metricsRoutes(metrics));
  const v1 = new Hono<ApiEnv>();
  for (const routes of [
    authRoutes(),
    openApiRoutes(),
    changeRoutes(deps),
    resourceRoutes(deps),
    sourceRoutes(deps),
    sinkRoutes(deps),
    watchRoutes(deps, hub),
  ]) {
    v1.route("/", routes);
  }
  app.route("/api/v1", v1);
  const started = hub;
  return { app, hub: started, metrics, close: () => started.close() };
}

export interface ApiServer extends Api {
  /** `http://host:port` as bound (port 0 resolved). */
  url: string;
  stop(): Promise<void>;
}

/** Builds the app and listens on `config.listen`; rejects with CRW_API_LISTEN when it cannot. */
export async function startApiServer(deps: ApiDeps): Promise<ApiServer> {
  const api = await buildApi(deps);
  const { host, port } = parseListen(deps.config.listen);
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: api.app.fetch, hostname: host, port }, () => resolve(s));
      s.once("error", reject);
    });
  } catch (err) {
    await api.close();
    throw new CrwatchError(
      "CRW_API_LISTEN",
      `cannot listen on ${deps.config.listen}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${shown}:${address.port}`;
  if (deps.config.auth === "none") {
    deps.logger.warn(
      { url },
      "API authentication is OFF (auth: none); it listens on loopback only",
    );
  }
  return {
    ...api,
    url,
    async stop() {
      await api.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}

export type { ApiDeps };
