import { Hono } from "hono";
import type { ApiEnv } from "./auth.js";
import { requireRole } from "./auth.js";
import type { ApiDeps } from "./deps.js";
import { notFound } from "./errors.js";
import { jsonBody, type ParamSchema, pathParams } from "./params.js";
import { requireUnscoped } from "./scope.js";

export const SINK_PATH: ParamSchema = {
  type: "object",
  required: ["name"],
  properties: { name: { type: "string", minLength: 1, description: "the sink's name" } },
};

export const RETRY_BODY = {
  type: "object",
  properties: {
    ids: {
      type: "array",
      items: { type: "integer", minimum: 1 },
      maxItems: 10_000,
      description: "dead letters to retry; all of the sink's when omitted",
    },
  },
} as const;

export function sinkRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const consumerOf = (name: string) => {
    const sink = deps.sinks.find((s) => s.name === name);
    if (!sink) throw notFound(`no sink named "${name}"`);
    return sink.consumer;
  };

  app.get("/sinks", async (c) => {
    const lastSeq = await deps.store.lastSeq();
    const cursors = new Map((await deps.store.listConsumerCursors()).map((k) => [k.consumer, k]));
    const letters = await deps.store.listDeadLetters();
    const items = deps.sinks.map(({ name, consumer }) => {
      const cursor = cursors.get(consumer);
      const own = letters.filter((l) => l.consumer === consumer);
      return {
        name,
        cursor: cursor?.seq ?? 0,
        updatedAt: cursor?.updatedAt ?? null,
        lag: lastSeq - (cursor?.seq ?? 0),
        deadLetters: own.filter((l) => l.state === "dead").length,
        retrying: own.filter((l) => l.state === "retry").length,
      };
    });
    return c.json({ lastSeq, items });
  });

  // Dead letters hold changes of every scope: for unscoped tokens only.
  app.get("/sinks/:name/dead-letters", requireUnscoped(), async (c) => {
    const { name } = pathParams<{ name: string }>(c, SINK_PATH);
    const items = await deps.store.listDeadLetters({ consumer: consumerOf(name) });
    return c.json({ items });
  });

  app.post(
    "/sinks/:name/dead-letters/retry",
    requireRole("operator"),
    requireUnscoped(),
    async (c) => {
      const { name } = pathParams<{ name: string }>(c, SINK_PATH);
      const consumer = consumerOf(name);
      const { ids } = await jsonBody<{ ids?: number[] }>(c, RETRY_BODY);
      const requeued = await deps.store.requeueDeadLetters({
        consumer,
        state: "dead",
        ...(ids ? { ids } : {}),
      });
      deps.logger.info(
        { sink: name, requeued, by: c.get("principal").name },
        "dead letters requeued",
      );
      if (requeued > 0) deps.onDeadLettersRequeued?.();
      return c.json({ requeued });
    },
  );

  return app;
}
