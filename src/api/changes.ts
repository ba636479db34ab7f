import { Hono } from "hono";
import type { ChangeQuery } from "../store/store.js";
import type { ApiEnv } from "./auth.js";
import { FILTER_PROPERTIES, type FilterParams, filterOf } from "./change-filters.js";
import type { ApiDeps } from "./deps.js";
import { notFound } from "./errors.js";
import { type ParamSchema, pathParams, query } from "./params.js";
import { checkRefInScope, narrowToScope } from "./scope.js";

const seqText = { type: "string", pattern: "^[0-9]{1,15}$" };

export const LIST_CHANGES: ParamSchema = {
  type: "object",
  properties: {
    ...FILTER_PROPERTIES,
    since: { type: "integer", minimum: 0, description: "only changes with seq > since" },
    until: { type: "integer", minimum: 0, description: "only changes with seq <= until" },
    order: { enum: ["asc", "desc"], default: "desc", description: "desc: newest first" },
    limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
    cursor: { ...seqText, description: "nextCursor of the previous page" },
  },
};

export const CHANGE_PATH: ParamSchema = {
  type: "object",
  required: ["seq"],
  properties: { seq: { type: "integer", minimum: 1, description: "the change's seq" } },
};

interface ListParams extends FilterParams {
  since?: number;
  until?: number;
  order: "asc" | "desc";
  limit: number;
  cursor?: string;
}

/** The page's window: the seq range narrowed by the cursor in the reading direction. */
function windowOf(params: ListParams): ChangeQuery {
  const window: ChangeQuery = { order: params.order, limit: params.limit };
  let after = params.since;
  let before = params.until === undefined ? undefined : params.until + 1;
  const cursor = params.cursor === undefined ? undefined : Number(params.cursor);
  if (cursor !== undefined && params.order === "asc") after = Math.max(after ?? 0, cursor);
  if (cursor !== undefined && params.order === "desc") before = Math.min(before ?? cursor, cursor);
  if (after !== undefined) window.afterSeq = after;
  if (before !== undefined) window.beforeSeq = before;
  return window;
}

export function changeRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  app.get("/changes", async (c) => {
    const params = query<ListParams>(c, LIST_CHANGES);
    const filter = narrowToScope(c.get("principal"), filterOf(params));
    const items = await deps.store.readChanges({ ...filter, ...windowOf(params) });
    const last = items[items.length - 1];
    const nextCursor = last && items.length === params.limit ? String(last.seq) : null;
    return c.json({ items, nextCursor });
  });

  app.get("/changes/:seq", async (c) => {
    const { seq } = pathParams<{ seq: number }>(c, CHANGE_PATH);
    const change = await deps.store.getChange(seq);
    if (!change) throw notFound(`no change with seq ${seq}`);
    checkRefInScope(c.get("principal"), change.ref, `change ${seq}`);
    const revision = async (n: number | null) =>
      n === null ? null : ((await deps.store.getRevision(change.ref, n))?.object ?? null);
    const before = await revision(change.previousRevision);
    const after = await revision(change.revision);
    return c.json({ change, before, after, patch: change.patch, findings: change.findings });
  });

  return app;
}
