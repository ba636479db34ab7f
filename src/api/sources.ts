import { Hono } from "hono";
import type { ApiEnv } from "./auth.js";
import type { ApiDeps } from "./deps.js";

/** The configured sources plus any with recorded health (a source removed from config). */
async function sourceNames(deps: ApiDeps): Promise<string[]> {
  const health = await deps.store.listSourceHealth();
  return [...new Set([...deps.sources, ...health.map((h) => h.source)])].sort();
}

export function sourceRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/sources", async (c) => {
    const { scope } = c.get("principal");
    const health = new Map((await deps.store.listSourceHealth()).map((h) => [h.source, h]));
    const names = (await sourceNames(deps)).filter(
      (name) => scope.source === undefined || name === scope.source,
    );
    const items = await Promise.all(
      names.map(async (name) => ({
        name,
        configured: deps.sources.includes(name),
        health: health.get(name) ?? null,
        cursors: await deps.store.getSourceCursors(name),
        // A problem names a file or an address, not a namespace: not for a namespace's token.
        openProblems: scope.namespace === undefined ? await deps.store.openProblems(name) : null,
      })),
    );
    return c.json({ items });
  });
  return app;
}
