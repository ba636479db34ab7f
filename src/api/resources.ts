import { type Context, Hono } from "hono";
import { diff } from "../core/diff.js";
import { summarize } from "../core/summarize.js";
import type { Revision } from "../model/change.js";
import type { Ref } from "../model/ref.js";
import type { ResourceQuery } from "../store/store.js";
import type { ApiEnv } from "./auth.js";
import type { ApiDeps } from "./deps.js";
import { badParameter, notFound } from "./errors.js";
import { type ParamSchema, pathParams, query } from "./params.js";
import { checkRefInScope, narrowToScope } from "./scope.js";

/** A ref in a URL: base64url of `[source, group, kind, namespace, name]`. */
export function resourceId(ref: Ref): string {
  const parts = [ref.source, ref.group, ref.kind, ref.namespace, ref.name];
  return Buffer.from(JSON.stringify(parts), "utf8").toString("base64url");
}

export function refOfId(id: string, parameter = "id"): Ref {
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(id, "base64url").toString("utf8"));
  } catch (err) {
    throw badParameter(parameter, "is not a resource id", err);
  }
  if (!Array.isArray(parts) || parts.length !== 5 || !parts.every((p) => typeof p === "string")) {
    throw badParameter(parameter, "is not a resource id");
  }
  const [source, group, kind, namespace, name] = parts as string[];
  return { source, group, kind, namespace, name } as Ref;
}

const idText = { type: "string", minLength: 1, maxLength: 4096, pattern: "^[A-Za-z0-9_-]+$" };

export const LIST_RESOURCES: ParamSchema = {
  type: "object",
  properties: {
    source: { type: "string", minLength: 1 },
    group: { type: "string" },
    kind: { type: "string", minLength: 1 },
    namespace: { type: "string" },
    name: { type: "string", minLength: 1 },
    includeDeleted: { type: "boolean", default: false },
    limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
    cursor: { ...idText, description: "nextCursor of the previous page" },
  },
};

export const RESOURCE_PATH: ParamSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { ...idText, description: "resource id from the resource list" } },
};

export const REVISION_PATH: ParamSchema = {
  type: "object",
  required: ["id", "revision"],
  properties: { ...RESOURCE_PATH.properties, revision: { type: "integer", minimum: 1 } },
};

export const DIFF_QUERY: ParamSchema = {
  type: "object",
  required: ["from", "to"],
  properties: {
    from: { type: "integer", minimum: 1, description: "the older revision" },
    to: { type: "integer", minimum: 1, description: "the newer revision" },
  },
};

type ListParams = Omit<ResourceQuery, "afterRef"> & { limit: number; cursor?: string };

function resourceOf(revision: Revision) {
  return { id: resourceId(revision.ref), deleted: revision.object === null, ...revision };
}

export function resourceRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const { store } = deps;

  /** The resource named by the path, 403 when it is outside the token's scope. */
  const refOf = (c: Context<ApiEnv>, schema = RESOURCE_PATH): Ref => {
    const { id } = pathParams<{ id: string }>(c, schema);
    const ref = refOfId(id);
    checkRefInScope(c.get("principal"), ref, "that resource");
    return ref;
  };

  const revisionOrFail = async (ref: Ref, n?: number) => {
    const revision = await store.getRevision(ref, n);
    if (!revision) throw notFound(`no revision ${n ?? "(latest)"} of that resource`);
    return revision;
  };

  app.get("/resources", async (c) => {
    const { cursor, ...params } = query<ListParams>(c, LIST_RESOURCES);
    const afterRef = cursor === undefined ? undefined : refOfId(cursor, "cursor");
    const scoped = narrowToScope(c.get("principal"), params);
    const items = await store.listResources({ ...scoped, ...(afterRef ? { afterRef } : {}) });
    const last = items[items.length - 1];
    const nextCursor = last && items.length === params.limit ? resourceId(last.ref) : null;
    return c.json({ items: items.map(resourceOf), nextCursor });
  });

  app.get("/resources/:id", async (c) => {
    return c.json(resourceOf(await revisionOrFail(refOf(c))));
  });

  app.get("/resources/:id/revisions", async (c) => {
    const revisions = await store.listRevisions(refOf(c));
    if (revisions.length === 0) throw notFound("no such resource");
    const items = await Promise.all(
      revisions.map(async ({ object: _object, ...revision }) => {
        const change = await store.getChange(revision.seq);
        const { type, committedAt, actor, cause } = change ?? {};
        return { ...revision, change: change ? { type, committedAt, actor, cause } : null };
      }),
    );
    return c.json({ items });
  });

  app.get("/resources/:id/revisions/:revision", async (c) => {
    const { revision } = pathParams<{ id: string; revision: number }>(c, REVISION_PATH);
    return c.json(resourceOf(await revisionOrFail(refOf(c, REVISION_PATH), revision)));
  });

  app.get("/resources/:id/diff", async (c) => {
    const ref = refOf(c);
    const { from, to } = query<{ from: number; to: number }>(c, DIFF_QUERY);
    const before = (await revisionOrFail(ref, from)).object ?? {};
    const after = (await revisionOrFail(ref, to)).object ?? {};
    const patch = diff(before, after);
    return c.json({ from, to, patch, summary: summarize(patch, before, after) });
  });

  return app;
}
