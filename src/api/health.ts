import { Hono } from "hono";
import type { ApiEnv } from "./auth.js";
import type { ApiDeps } from "./deps.js";

/** Liveness and readiness: the only routes open without a token (probes carry none). */
export function healthRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    try {
      const lastSeq = await deps.store.lastSeq();
      if (deps.ready && !deps.ready()) return c.json({ status: "starting", lastSeq }, 503);
      return c.json({ status: "ready", lastSeq });
    } catch (err) {
      deps.logger.warn({ err }, "readyz: the store cannot be read");
      return c.json({ status: "store unavailable" }, 503);
    }
  });
  return app;
}
