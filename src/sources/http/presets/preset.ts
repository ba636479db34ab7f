import { isJsonObject, type JsonObject, type JsonValue } from "../../../model/json.js";
import type { Paging } from "../paginate.js";
import type { FieldRedactor } from "../redact.js";

/** One entity as a preset names it; the source makes the ref. */
export interface Entity {
  name: string;
  namespace?: string;
  object: JsonObject;
}

/** What turning one item into an entity may consult, for one poll of one endpoint. */
export interface EntityContext {
  /** The name an entity of another endpoint has, by id (Kong: a plugin's service). */
  nameOf(endpoint: string, id: string): string | undefined;
  /** Per-poll counter for positional names (LiteLLM: the n-th deployment of a model name). */
  seen: Map<string, number>;
  redactor: FieldRedactor;
}

/** One list an admin API serves: one scope {group, kind} of the source. */
export interface Endpoint {
  /** Stable short name (`services`), also the key other endpoints look names up by. */
  name: string;
  /** First page's URL, built from the source's base URL. */
  url(base: string, pageSize: number | undefined): string;
  group: string;
  kind: string;
  paging: Paging;
  /** Endpoints whose names this one looks up; read first, and their failure holds it back. */
  needs?: string[];
  /** An item's entity; throwing marks the page (and the poll of this scope) as failed. */
  toEntity(item: JsonValue, ctx: EntityContext): Entity;
  /**
   * Not every server serves this list (Kong OSS before consumer groups): a 404 skips it,
   * with no snapshot (nothing deleted) and no failure.
   */
  optional?: boolean;
  /**
   * Completes an item with what the list leaves out (Kong: an upstream's targets), read
   * with `list(path)` (all pages of a path under the base URL). Pages of an endpoint with
   * `expand` are never reused from a 304, since what they add may have changed.
   */
  expand?(item: JsonValue, list: (path: string) => Promise<JsonValue[]>): Promise<JsonValue>;
  /** An item's `[id, name]`, for endpoints that others look up. */
  index?(item: JsonValue): [string, string] | undefined;
}

export interface Preset {
  endpoints: Endpoint[];
  /** The headers that carry the configured `token`. */
  tokenHeaders(token: string): Record<string, string>;
}

/** Joins a base URL and a path without doubling or losing a slash. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}${path}`;
}

export function withQuery(
  url: string,
  params: Record<string, string | number | undefined>,
): string {
  const parsed = new URL(url);
  for (const [k, v] of Object.entries(params))
    if (v !== undefined) parsed.searchParams.set(k, String(v));
  return parsed.toString();
}

/** Object.fromEntries, not assignment: a key named `__proto__` must stay a key. */
export function omit(
  object: JsonObject,
  drop: (key: string, value: JsonValue) => boolean,
): JsonObject {
  return Object.fromEntries(Object.entries(object).filter(([k, v]) => !drop(k, v)));
}

export function asObject(item: JsonValue, what: string): JsonObject {
  if (!isJsonObject(item)) {
    throw new TypeError(`${what} is not an object: ${JSON.stringify(item).slice(0, 80)}`);
  }
  return item;
}

export function str(value: JsonValue | undefined): string | undefined {
  if (typeof value === "string" && value) return value;
  if (typeof value === "number") return String(value);
  return undefined;
}
