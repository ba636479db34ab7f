import type { IncomingHttpHeaders } from "node:http";
import { CrwatchError } from "../../model/errors.js";
import { isJsonObject, type JsonValue } from "../../model/json.js";
import type { HttpClient, HttpResponse } from "./client.js";
import { atPath } from "./json-path.js";

/** How an endpoint's list is cut into pages, and where a page keeps its items. */
export type Paging =
  /** Kong: `{ data: [...], next: "/services?offset=…" | null }`. */
  | { style: "kong" }
  /** APISIX 3: `{ total, list: [{ key, value, … }] }` with `page` / `page_size`. */
  | { style: "apisix" }
  /** Items at a path; the next page in a `Link: <url>; rel="next"` header. */
  | { style: "link"; items: string }
  /** Items at a path; a cursor field names the next page, passed back as a query parameter. */
  | { style: "cursor"; items: string; field: string; param: string }
  /** One response holds the whole list. */
  | { style: "none"; items: string }
  /** One response holds one object (a settings block) at a path; absent or null: none. */
  | { style: "object"; path: string };

/** What a page answered last time, kept when the server gave validators (ETag, Last-Modified). */
export interface CachedPage {
  etag?: string;
  lastModified?: string;
  items: JsonValue[];
  next: string | undefined;
}

export interface Page {
  url: string;
  items: JsonValue[];
  /** The server answered 304: the items are the cached ones. */
  notModified: boolean;
}

/** How much of the answer goes into an error message (after masking). */
const BODY_EXCERPT = 200;

/**
 * Walks an endpoint's pages in order, asking each with `If-None-Match` / `If-Modified-Since`
 * when an earlier answer had validators. Pages reached are recorded in `visited` (the
 * caller keeps it only when the whole list was read). An error status or a body that is
 * not the expected list throws, so the caller ends no snapshot.
 */
export async function* listPages(
  client: HttpClient,
  firstUrl: string,
  paging: Paging,
  previous: ReadonlyMap<string, CachedPage>,
  visited: Map<string, CachedPage>,
  signal: AbortSignal,
): AsyncGenerator<Page> {
  let url: string | undefined = firstUrl;
  let collected = 0;
  const seen = new Set<string>();
  while (url !== undefined) {
    if (seen.has(url)) throw bodyError(url, "pagination loops back to a page already read");
    seen.add(url);
    const cached = previous.get(url);
    const response = await client.get(url, conditionalHeaders(cached), signal);
    let page: CachedPage;
    if (response.status === 304 && cached) {
      page = cached;
    } else if (response.status >= 200 && response.status < 300) {
      page = { ...parsePage(url, response, paging, collected), ...validators(response.headers) };
    } else {
      throw statusError(url, response);
    }
    if (page.etag !== undefined || page.lastModified !== undefined) visited.set(url, page);
    collected += page.items.length;
    yield { url, items: page.items, notModified: page === cached };
    url = page.next;
  }
}

function conditionalHeaders(cached: CachedPage | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (cached?.etag) headers["if-none-match"] = cached.etag;
  if (cached?.lastModified) headers["if-modified-since"] = cached.lastModified;
  return headers;
}

function validators(headers: IncomingHttpHeaders): Pick<CachedPage, "etag" | "lastModified"> {
  const out: Pick<CachedPage, "etag" | "lastModified"> = {};
  if (typeof headers.etag === "string") out.etag = headers.etag;
  if (typeof headers["last-modified"] === "string") out.lastModified = headers["last-modified"];
  return out;
}

function parsePage(
  url: string,
  response: HttpResponse,
  paging: Paging,
  before: number,
): CachedPage {
  let body: JsonValue;
  try {
    body = JSON.parse(response.body.toString("utf8")) as JsonValue;
  } catch (err) {
    throw bodyError(url, `the answer is not JSON (${(err as Error).message})`, err);
  }
  switch (paging.style) {
    case "kong": {
      const items = listAt(url, body, "data");
      const next = isJsonObject(body) && typeof body.next === "string" ? body.next : undefined;
      return { items, next: next ? resolveNext(url, next) : undefined };
    }
    case "apisix":
      return apisixPage(url, body, before);
    case "link":
      return {
        items: listAt(url, body, paging.items),
        next: linkNext(url, headerText(response.headers.link)),
      };
    case "cursor": {
      const cursor = atPath(body, paging.field);
      const next =
        typeof cursor === "string" && cursor
          ? cursor
          : typeof cursor === "number"
            ? String(cursor)
            : undefined;
      const items = listAt(url, body, paging.items);
      return {
        items,
        next: next && items.length > 0 ? setParam(url, paging.param, next) : undefined,
      };
    }
    case "none":
      return { items: listAt(url, body, paging.items), next: undefined };
    case "object": {
      const value = atPath(body, paging.path);
      if (value === undefined || value === null) return { items: [], next: undefined };
      if (!isJsonObject(value)) throw bodyError(url, `expected an object at \`${paging.path}\``);
      return { items: [value], next: undefined };
    }
  }
}

/** APISIX 3 answers an empty list as `list: {}` in some versions; both mean no items. */
function apisixPage(url: string, body: JsonValue, before: number): CachedPage {
  if (!isJsonObject(body)) throw bodyError(url, "expected {total, list}");
  const list = body.list;
  const items = Array.isArray(list)
    ? list
    : isJsonObject(list) && Object.keys(list).length === 0
      ? []
      : undefined;
  if (!items) throw bodyError(url, "expected `list` to be an array (APISIX 3 list format)");
  const total = typeof body.total === "number" ? body.total : items.length;
  const page = Number(new URL(url).searchParams.get("page") ?? "1");
  const more = items.length > 0 && before + items.length < total;
  return { items, next: more ? setParam(url, "page", String(page + 1)) : undefined };
}

function listAt(url: string, body: JsonValue, path: string): JsonValue[] {
  const items = atPath(body, path);
  if (!Array.isArray(items)) {
    throw bodyError(url, path ? `expected an array at \`${path}\`` : "expected a JSON array");
  }
  return items;
}

/**
 * Kong's `next` is a path from its own root (`/services?offset=…`); behind a proxy that
 * mounts the admin API under a prefix, the prefix is the base URL's path before the
 * endpoint, so it is kept. A full URL is taken as it is.
 */
function resolveNext(current: string, next: string): string {
  if (/^https?:\/\//.test(next)) return next;
  const url = new URL(current);
  const endpoint = next.split("?")[0] ?? next;
  const prefixEnd = url.pathname.lastIndexOf(endpoint);
  const prefix = prefixEnd > 0 ? url.pathname.slice(0, prefixEnd) : "";
  return new URL(`${prefix}${next}`, url.origin).toString();
}

/** The `rel="next"` target of an RFC 8288 Link header, resolved against the page's URL. */
export function linkNext(current: string, header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match && /;\s*rel="?([^";]*\s)?next(\s[^";]*)?"?/i.test(match[2] ?? "")) {
      return new URL(match[1]!, current).toString();
    }
  }
  return undefined;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

function setParam(url: string, name: string, value: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set(name, value);
  return parsed.toString();
}

/** An error status, with the status for callers that treat one specially (404 of an optional list). */
export class HttpStatusError extends CrwatchError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super("CRW_HTTP_STATUS", message);
  }
}

function statusError(url: string, response: HttpResponse): HttpStatusError {
  const excerpt = response.body.toString("utf8").slice(0, BODY_EXCERPT).replace(/\s+/g, " ");
  return new HttpStatusError(
    response.status,
    `GET ${url} answered ${response.status}${excerpt ? `: ${excerpt}` : ""}`,
  );
}

function bodyError(url: string, message: string, cause?: unknown): CrwatchError {
  return new CrwatchError("CRW_HTTP_BODY", `GET ${url}: ${message}`, { cause });
}
