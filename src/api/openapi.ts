import { Hono } from "hono";
import type { JsonSchema } from "../model/component.js";
import type { ApiEnv } from "./auth.js";
import { CHANGE_PATH, LIST_CHANGES } from "./changes.js";
import type { Role } from "./config.js";
import type { ParamSchema } from "./params.js";
import { DIFF_QUERY, LIST_RESOURCES, RESOURCE_PATH, REVISION_PATH } from "./resources.js";
import { RETRY_BODY, SINK_PATH } from "./sinks.js";
import { WATCH_QUERY } from "./watch.js";

interface Operation {
  method: "get" | "post";
  /** OpenAPI form: `/api/v1/changes/{seq}`. */
  path: string;
  summary: string;
  /** null: open without a token. */
  role: Role | null;
  query?: ParamSchema;
  pathParams?: ParamSchema;
  body?: JsonSchema;
  contentType?: string;
}

/** Every route the API serves; server.test checks this list against the router's. */
export const OPERATIONS: Operation[] = [
  { method: "get", path: "/healthz", summary: "liveness", role: null },
  { method: "get", path: "/readyz", summary: "readiness (the store can be read)", role: null },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics",
    role: "viewer",
    contentType: "text/plain",
  },
  { method: "get", path: "/api/v1/openapi.json", summary: "this document", role: "viewer" },
  { method: "get", path: "/api/v1/whoami", summary: "the token's name and role", role: "viewer" },
  {
    method: "get",
    path: "/api/v1/changes",
    summary: "changes, filtered, a page at a time",
    role: "viewer",
    query: LIST_CHANGES,
  },
  {
    method: "get",
    path: "/api/v1/changes/{seq}",
    summary: "one change with its diff, objects and findings",
    role: "viewer",
    pathParams: CHANGE_PATH,
  },
  {
    method: "get",
    path: "/api/v1/resources",
    summary: "current resources (masked)",
    role: "viewer",
    query: LIST_RESOURCES,
  },
  {
    method: "get",
    path: "/api/v1/resources/{id}",
    summary: "a resource's latest revision",
    role: "viewer",
    pathParams: RESOURCE_PATH,
  },
  {
    method: "get",
    path: "/api/v1/resources/{id}/revisions",
    summary: "a resource's revisions",
    role: "viewer",
    pathParams: RESOURCE_PATH,
  },
  {
    method: "get",
    path: "/api/v1/resources/{id}/revisions/{revision}",
    summary: "one revision",
    role: "viewer",
    pathParams: REVISION_PATH,
  },
  {
    method: "get",
    path: "/api/v1/resources/{id}/diff",
    summary: "the diff between two revisions",
    role: "viewer",
    pathParams: RESOURCE_PATH,
    query: DIFF_QUERY,
  },
  {
    method: "get",
    path: "/api/v1/sources",
    summary: "sources with health, cursors and open problems",
    role: "viewer",
  },
  {
    method: "get",
    path: "/api/v1/sinks",
    summary: "sinks with their cursor, lag and dead letters",
    role: "viewer",
  },
  {
    method: "get",
    path: "/api/v1/sinks/{name}/dead-letters",
    summary: "a sink's dead letters",
    role: "viewer",
    pathParams: SINK_PATH,
  },
  {
    method: "post",
    path: "/api/v1/sinks/{name}/dead-letters/retry",
    summary: "deliver dead letters again",
    role: "operator",
    pathParams: SINK_PATH,
    body: RETRY_BODY,
  },
  {
    method: "get",
    path: "/api/v1/watch",
    summary: "live changes as Server-Sent Events (id = seq; resume with Last-Event-ID)",
    role: "viewer",
    query: WATCH_QUERY,
    contentType: "text/event-stream",
  },
];

function parameters(schema: ParamSchema | undefined, where: "query" | "path") {
  return Object.entries(schema?.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property as JsonSchema & { description?: string };
    return {
      name,
      in: where,
      required: where === "path" || (schema?.required ?? []).includes(name),
      ...(description ? { description } : {}),
      ...(rest.type === "array" ? { style: "form", explode: false } : {}),
      schema: rest,
    };
  });
}

const ERROR_RESPONSE = {
  description: "error",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
};

function operationOf(op: Operation) {
  const responses: Record<string, unknown> = {
    "200": { description: "ok", content: { [op.contentType ?? "application/json"]: {} } },
    "400": ERROR_RESPONSE,
  };
  if (op.role) Object.assign(responses, { "401": ERROR_RESPONSE, "403": ERROR_RESPONSE });
  if (op.pathParams) responses["404"] = ERROR_RESPONSE;
  if (op.body) responses["413"] = ERROR_RESPONSE;
  return {
    summary: op.summary,
    ...(op.role ? { "x-crwatch-role": op.role } : { security: [] }),
    parameters: [...parameters(op.pathParams, "path"), ...parameters(op.query, "query")],
    ...(op.body
      ? { requestBody: { required: false, content: { "application/json": { schema: op.body } } } }
      : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document, built from the same schemas the routes validate with. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, unknown>)[op.method] = operationOf(op);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "crwatch API",
      version: "1",
      description:
        "Bearer tokens carry a role and may be scoped to one namespace and/or one source: " +
        "lists and the watch stream are narrowed to the scope; one change or resource outside " +
        "it, a filter naming another scope, metrics and dead letters answer 403.",
    },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: {
                code: { type: "string" },
                message: { type: "string" },
                parameter: { type: "string" },
              },
            },
          },
        },
      },
    },
    paths,
  };
}

export function openApiRoutes(): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const document = openApiDocument();
  app.get("/openapi.json", (c) => c.json(document));
  return app;
}
