import type { ServerResponse } from "node:http";
import { Hono } from "hono";
import type { ApiEnv } from "./auth.js";
import { FILTER_PROPERTIES, type FilterParams, filterOf } from "./change-filters.js";
import type { ApiDeps } from "./deps.js";
import { badParameter } from "./errors.js";
import { type ParamSchema, query } from "./params.js";
import { narrowToScope } from "./scope.js";
import { NodeTransport, SSE_HEADERS, type WatchHub, WebTransport } from "./watch-hub.js";

export const WATCH_QUERY: ParamSchema = {
  type: "object",
  properties: {
    ...FILTER_PROPERTIES,
    since: {
      type: "integer",
      minimum: 0,
      description: "send the changes after this seq first (Last-Event-ID wins when both are set)",
    },
  },
};

/** The seq to resume after: Last-Event-ID (a reconnecting client), ?since, or the log's end. */
async function resumePoint(
  deps: ApiDeps,
  header: string | undefined,
  since: number | undefined,
): Promise<number> {
  if (header !== undefined && header.trim() !== "") {
    if (!/^\d{1,15}$/.test(header.trim())) {
      throw badParameter("Last-Event-ID", "must be the seq of the last event received");
    }
    return Number(header.trim());
  }
  return since ?? (await deps.store.lastSeq());
}

/**
 * `GET /watch`: Server-Sent Events, one `change` event per change with its seq as the id.
 * A reconnect with Last-Event-ID (or ?since) gets exactly what it missed, then live changes.
 */
export function watchRoutes(deps: ApiDeps, hub: WatchHub): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/watch", async (c) => {
    const params = query<FilterParams & { since?: number }>(c, WATCH_QUERY);
    // The token's scope is part of the filter: the backlog query and the live match alike.
    const filter = narrowToScope(c.get("principal"), filterOf(params));
    const since = await resumePoint(deps, c.req.header("last-event-id"), params.since);
    const { maxBuffered } = deps.config.watch;
    // On a real socket, write to the Node response directly (no web-stream cost per event).
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing) {
      hub.open(filter, since, new NodeTransport(outgoing, maxBuffered));
      return new Response(null, { headers: { "x-hono-already-sent": "1" } });
    }
    const transport = new WebTransport(maxBuffered);
    hub.open(filter, since, transport);
    return new Response(transport.body, { headers: SSE_HEADERS });
  });
  return app;
}
