import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CORE_TYPES, type ServedType, typeOfCrd } from "./types.js";

type Json = Record<string, unknown>;
type EventType = "ADDED" | "MODIFIED" | "DELETED";

interface LoggedEvent {
  rv: number;
  type: EventType;
  typeKey: string;
  object: Json;
  /** The object before this event (label-selector transitions need both). */
  before: Json | undefined;
}

interface Watcher {
  typeKey: string;
  namespace: string | undefined;
  selector: Selector;
  bookmarks: boolean;
  res: ServerResponse;
  /** Stalled: the connection stays open and nothing more is written to it. */
  stalled: boolean;
}

/** One request the server answered (tests count lists and watches with it). */
export interface RecordedRequest {
  path: string;
  query: Record<string, string>;
  watch: boolean;
  status: number;
}

export interface FakeKubeOptions {
  /** When set, requests need `Authorization: Bearer <token>` (else 401). */
  token?: string;
  /** How a watch from a compacted resourceVersion is refused: an ERROR event (default) or HTTP 410. */
  expiredAs?: "event" | "status";
  /**
   * Events kept for watches to resume from, at least (default: all). Beyond twice this many
   * the oldest are compacted away, as etcd compacts: a watch from before them gets 410. For
   * long runs (the benchmark), whose history would otherwise hold every revision.
   */
  retainEvents?: number;
}

/**
 * A Kubernetes API server for tests, speaking the real wire protocol over node:http:
 * discovery (/api, /api/v1, /apis, /apis/<group>/<version>), paginated lists with
 * resourceVersion, limit and continue, label selectors, `?watch=1` streams of
 * `{"type","object"}` lines (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR), and knobs for what
 * real clusters do to clients: compaction (410 as an ERROR event or as HTTP status),
 * dropped and stalled connections, garbage lines, CRDs appearing and disappearing, 401/403.
 *
 * Simplification: a `continue` page is served from the current state after the last key
 * (a real server serves the snapshot at the first page's resourceVersion).
 */
export class FakeKubeServer {
  private readonly server: Server;
  private readonly types = new Map<string, ServedType>();
  private readonly objects = new Map<string, Map<string, Json>>();
  /**
   * Each type's object ids in list order, built on demand and dropped when the set of ids
   * changes (not on a modification): a page costs its own size, as with a real server's
   * key-range read, instead of sorting every object of the kind for every page.
   */
  private readonly order = new Map<string, string[]>();
  private log: LoggedEvent[] = [];
  private watchers = new Set<Watcher>();
  private rv = 1000;
  private compactedRv = 0;
  private readonly forbidden = new Set<string>();
  private readonly failures: { typeKey: string; status: number; count: number }[] = [];
  readonly requests: RecordedRequest[] = [];
  url = "";

  constructor(private readonly options: FakeKubeOptions = {}) {
    for (const t of CORE_TYPES) this.addType(t);
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- cluster state --------------------------------------------------------------------

  /** Serves the kind a CRD declares (a CRD installed while clients run). */
  installCrd(crd: Json): ServedType {
    const type = typeOfCrd(crd);
    this.addType(type);
    return type;
  }

  /** Deletes the kind's objects (DELETED events), then stops serving it; its watches end. */
  removeCrd(group: string, kind: string): void {
    const key = this.keyOf(group, kind);
    for (const obj of [...(this.objects.get(key)?.values() ?? [])]) {
      const meta = obj.metadata as Json;
      this.delete(group, kind, (meta.namespace as string) ?? "", meta.name as string);
    }
    this.types.delete(key);
    this.objects.delete(key);
    this.order.delete(key);
    for (const w of [...this.watchers]) if (w.typeKey === key) this.endWatcher(w);
  }

  /** Creates or replaces an object (by apiVersion, kind, namespace, name); returns the stored copy. */
  apply(input: Json, manager = "kubectl-client-side-apply"): Json {
    const type = this.typeOfObject(input);
    const key = this.keyOf(type.group, type.kind);
    const meta = { ...((input.metadata as Json) ?? {}) };
    const id = objectId(meta);
    const before = this.objects.get(key)?.get(id);
    const rv = ++this.rv;
    const time = timeOf(rv);
    const beforeMeta = (before?.metadata as Json | undefined) ?? {};
    const object: Json = {
      ...structuredClone(input),
      metadata: {
        ...meta,
        uid: beforeMeta.uid ?? randomUUID(),
        resourceVersion: String(rv),
        generation: ((beforeMeta.generation as number | undefined) ?? 0) + 1,
        creationTimestamp: beforeMeta.creationTimestamp ?? time,
        managedFields: [
          ...((beforeMeta.managedFields as Json[] | undefined) ?? []).filter(
            (m) => m.manager !== manager,
          ),
          {
            manager,
            operation: "Update",
            apiVersion: input.apiVersion,
            time,
            fieldsType: "FieldsV1",
            fieldsV1: {},
          },
        ],
      },
    };
    if (before?.status !== undefined && object.status === undefined) object.status = before.status;
    this.store(key, id, object, before ? "MODIFIED" : "ADDED", before);
    return object;
  }

  /** Writes only `status` (the status subresource): a new resourceVersion, no spec change. */
  updateStatus(
    group: string,
    kind: string,
    namespace: string,
    name: string,
    status: unknown,
  ): void {
    const key = this.keyOf(group, kind);
    const id = `${namespace}/${name}`;
    const before = this.objects.get(key)?.get(id);
    if (!before) throw new Error(`no ${kind} ${id}`);
    const rv = ++this.rv;
    const meta = before.metadata as Json;
    const object = {
      ...structuredClone(before),
      status,
      metadata: {
        ...structuredClone(meta),
        resourceVersion: String(rv),
        managedFields: [
          ...(meta.managedFields as Json[]),
          {
            manager: "gateway-controller",
            operation: "Update",
            subresource: "status",
            time: timeOf(rv),
            fieldsType: "FieldsV1",
            fieldsV1: {},
          },
        ],
      },
    };
    this.store(key, id, object, "MODIFIED", before);
  }

  delete(group: string, kind: string, namespace: string, name: string): void {
    const key = this.keyOf(group, kind);
    const id = `${namespace}/${name}`;
    const before = this.objects.get(key)?.get(id);
    if (!before) throw new Error(`no ${kind} ${id}`);
    const rv = ++this.rv;
    const object = {
      ...structuredClone(before),
      metadata: { ...(before.metadata as Json), resourceVersion: String(rv) },
    };
    this.store(key, id, object, "DELETED", before);
  }

  /** The current resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  // ---- knobs ----------------------------------------------------------------------------

  /** Forgets the event history up to now: watches from older resourceVersions get 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.log = [];
  }

  /** Tells every open watch (of one kind, or all) that its resourceVersion expired: an ERROR 410 event, then the end. */
  expireWatches(group?: string, kind?: string): void {
    const key = group !== undefined && kind ? this.keyOf(group, kind) : undefined;
    for (const w of [...this.watchers]) {
      if (key && w.typeKey !== key) continue;
      // Sent even on a stalled connection: the server ends the watch it could not keep up.
      if (!w.res.destroyed)
        w.res.write(
          `${JSON.stringify({ type: "ERROR", object: expiredStatus(this.compactedRv) })}\n`,
        );
      this.endWatcher(w);
    }
  }

  /** Cuts every open watch's connection (of one kind, or all; no final chunk): a dropped connection. */
  dropWatches(group?: string, kind?: string): void {
    const key = group !== undefined && kind ? this.keyOf(group, kind) : undefined;
    for (const w of [...this.watchers]) {
      if (key && w.typeKey !== key) continue;
      this.watchers.delete(w);
      w.res.socket?.destroy();
    }
  }

  /** Open watches go silent (connections stay open); new watches work. */
  stallWatches(): void {
    for (const w of this.watchers) w.stalled = true;
  }

  /** Sends a BOOKMARK at the current resourceVersion to watches that asked for them. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const type = this.types.get(w.typeKey);
      if (!type) continue;
      this.write(w, {
        type: "BOOKMARK",
        object: {
          kind: type.kind,
          apiVersion: apiVersion(type),
          metadata: { resourceVersion: String(this.rv) },
        },
      });
    }
  }

  /** Writes a line that is not a watch event to every open watch of a kind. */
  sendGarbage(group: string, kind: string, line = "this is not JSON"): void {
    const key = this.keyOf(group, kind);
    for (const w of this.watchers) if (w.typeKey === key && !w.stalled) w.res.write(`${line}\n`);
  }

  /** Refuses (403) lists and watches of a kind until `allow`. */
  forbid(group: string, kind: string): void {
    this.forbidden.add(this.keyOf(group, kind));
  }

  allow(group: string, kind: string): void {
    this.forbidden.delete(this.keyOf(group, kind));
  }

  /** The next `count` lists or watches of a kind answer `status`. */
  failNext(group: string, kind: string, status: number, count = 1): void {
    this.failures.push({ typeKey: this.keyOf(group, kind), status, count });
  }

  /** Open watch connections (of one kind, or all). */
  openWatches(group?: string, kind?: string): number {
    const key = group !== undefined && kind ? this.keyOf(group, kind) : undefined;
    return [...this.watchers].filter((w) => !key || w.typeKey === key).length;
  }

  /** Requests to a kind's collection: lists and watches. */
  collectionRequests(plural: string, kind: "list" | "watch"): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.path.endsWith(`/${plural}`) && r.watch === (kind === "watch"),
    );
  }

  // ---- internals ------------------------------------------------------------------------

  private addType(type: ServedType): void {
    const key = this.keyOf(type.group, type.kind);
    this.types.set(key, type);
    if (!this.objects.has(key)) this.objects.set(key, new Map());
  }

  private keyOf(group: string, kind: string): string {
    return `${kind}.${group}`;
  }

  private typeOfObject(obj: Json): ServedType {
    const av = String(obj.apiVersion ?? "");
    const group = av.includes("/") ? av.slice(0, av.indexOf("/")) : "";
    const type = this.types.get(this.keyOf(group, String(obj.kind)));
    if (!type) throw new Error(`the fake server does not serve ${obj.kind}.${group}`);
    return type;
  }

  private store(
    key: string,
    id: string,
    object: Json,
    type: EventType,
    before: Json | undefined,
  ): void {
    const map = this.objects.get(key)!;
    if (type === "DELETED" || !map.has(id)) this.order.delete(key);
    if (type === "DELETED") map.delete(id);
    else map.set(id, object);
    const event: LoggedEvent = { rv: this.rv, type, typeKey: key, object, before };
    this.log.push(event);
    const retain = this.options.retainEvents;
    if (retain !== undefined && this.log.length > 2 * retain) {
      const dropped = this.log.splice(0, this.log.length - retain);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const w of this.watchers) if (w.typeKey === key) this.deliver(w, event);
  }

  /**
   * Runs `fn` with every open watch's connection corked, so the events it writes leave in
   * one write: a real server flushes a busy watch once its queue is empty, not per event.
   */
  corked(fn: () => void): void {
    const responses = [...this.watchers].map((w) => w.res);
    for (const res of responses) res.cork();
    try {
      fn();
    } finally {
      for (const res of responses) res.uncork();
    }
  }

  /** Writes an event to a watcher as it sees it (label selector transitions included). */
  private deliver(w: Watcher, e: LoggedEvent): void {
    const ns = (e.object.metadata as Json).namespace as string | undefined;
    if (w.namespace && ns !== w.namespace) return;
    const now = e.type !== "DELETED" && w.selector(e.object);
    const was = e.before !== undefined && w.selector(e.before);
    let type: string | undefined;
    if (e.type === "DELETED") type = was ? "DELETED" : undefined;
    else if (now) type = was ? "MODIFIED" : "ADDED";
    else if (was) type = "DELETED";
    if (type) this.write(w, { type, object: e.object });
  }

  private write(w: Watcher, event: Json): void {
    if (w.stalled || w.res.destroyed) return;
    w.res.write(`${JSON.stringify(event)}\n`);
  }

  private endWatcher(w: Watcher): void {
    this.watchers.delete(w);
    if (!w.res.destroyed) w.res.end();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://fake");
    const query = Object.fromEntries(url.searchParams);
    const watch = query.watch === "1" || query.watch === "true";
    const record = (status: number) =>
      this.requests.push({ path: url.pathname, query, watch, status });
    if (this.options.token && req.headers.authorization !== `Bearer ${this.options.token}`) {
      record(sendStatus(res, 401, "Unauthorized", "Unauthorized"));
      return;
    }
    if (req.method !== "GET") {
      record(sendStatus(res, 405, "MethodNotAllowed", "the fake server only reads"));
      return;
    }
    const status = this.route(url.pathname, query, watch, res);
    record(status);
  }

  private route(
    path: string,
    query: Record<string, string>,
    watch: boolean,
    res: ServerResponse,
  ): number {
    if (path === "/version")
      return sendJson(res, 200, {
        major: "1",
        minor: "32",
        gitVersion: "v1.32.0-fake",
        platform: "linux/amd64",
      });
    if (path === "/api")
      return sendJson(res, 200, {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [],
      });
    if (path === "/apis") return sendJson(res, 200, this.groupList());
    const parsed = parsePath(path);
    if (!parsed)
      return sendStatus(
        res,
        404,
        "NotFound",
        `the server could not find the requested resource (${path})`,
      );
    const { group, version, namespace, plural, name } = parsed;
    if (!plural) return this.resourceList(group, version, res);
    const type = [...this.types.values()].find(
      (t) => t.group === group && t.plural === plural && t.versions.includes(version),
    );
    if (!type || (namespace && !type.namespaced))
      return sendStatus(res, 404, "NotFound", `the server could not find the requested resource`);
    const key = this.keyOf(type.group, type.kind);
    if (this.forbidden.has(key))
      return sendStatus(
        res,
        403,
        "Forbidden",
        `${plural}.${group} is forbidden: User "system:serviceaccount:crwatch:crwatch" cannot ${watch ? "watch" : "list"} resource "${plural}" in API group "${group}" at the cluster scope`,
      );
    const failure = this.failures.find((f) => f.typeKey === key && f.count > 0);
    if (failure) {
      failure.count--;
      return sendStatus(res, failure.status, "InternalError", `injected failure ${failure.status}`);
    }
    if (name) return this.getOne(type, version, namespace ?? "", name, res);
    const selector = parseSelector(query.labelSelector);
    if (watch) return this.watch(type, version, namespace, selector, query, res);
    return this.list(type, version, namespace, selector, query, res);
  }

  private groupList(): Json {
    const groups = new Map<string, string[]>();
    for (const t of this.types.values()) {
      if (!t.group) continue;
      const versions = groups.get(t.group) ?? [];
      for (const v of t.versions) if (!versions.includes(v)) versions.push(v);
      groups.set(t.group, versions);
    }
    return {
      kind: "APIGroupList",
      apiVersion: "v1",
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      })),
    };
  }

  private resourceList(group: string, version: string, res: ServerResponse): number {
    const served = [...this.types.values()].filter(
      (t) => t.group === group && t.versions.includes(version),
    );
    if (served.length === 0)
      return sendStatus(res, 404, "NotFound", "the server could not find the requested resource");
    return sendJson(res, 200, {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group ? `${group}/${version}` : version,
      resources: served.map((t) => ({
        name: t.plural,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
        ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
        storageVersionHash: "fake",
      })),
    });
  }

  private visible(type: ServedType, namespace: string | undefined, selector: Selector): Json[] {
    return this.page(type, namespace, selector, "", Number.POSITIVE_INFINITY).items;
  }

  /** Up to `limit` matching objects after the id `startAfter`, in id order, and how many match after them. */
  private page(
    type: ServedType,
    namespace: string | undefined,
    selector: Selector,
    startAfter: string,
    limit: number,
  ): { items: Json[]; remaining: number } {
    const key = this.keyOf(type.group, type.kind);
    const map = this.objects.get(key) ?? new Map<string, Json>();
    let ids = this.order.get(key);
    if (!ids) {
      ids = [...map.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      this.order.set(key, ids);
    }
    const matches = (o: Json) =>
      (!namespace || (o.metadata as Json).namespace === namespace) && selector(o);
    const items: Json[] = [];
    let i = firstAfter(ids, startAfter);
    for (; i < ids.length && items.length < limit; i++) {
      const o = map.get(ids[i]!);
      if (o && matches(o)) items.push(o);
    }
    // Unfiltered, the rest is counted without looking at it.
    let remaining = !namespace && selector === matchAll ? ids.length - i : 0;
    if (remaining === 0) for (; i < ids.length; i++) if (matches(map.get(ids[i]!)!)) remaining++;
    return { items, remaining };
  }

  private getOne(
    type: ServedType,
    version: string,
    namespace: string,
    name: string,
    res: ServerResponse,
  ): number {
    const obj = this.objects.get(this.keyOf(type.group, type.kind))?.get(`${namespace}/${name}`);
    if (!obj)
      return sendStatus(res, 404, "NotFound", `${type.plural}.${type.group} "${name}" not found`);
    return sendJson(res, 200, asVersion(obj, type, version));
  }

  private list(
    type: ServedType,
    version: string,
    namespace: string | undefined,
    selector: Selector,
    query: Record<string, string>,
    res: ServerResponse,
  ): number {
    let listRv = this.rv;
    let startAfter = "";
    if (query.continue) {
      const token = decodeContinue(query.continue);
      if (!token) return sendStatus(res, 400, "BadRequest", "invalid continue token");
      if (token.rv < this.compactedRv)
        return sendStatus(
          res,
          410,
          "Expired",
          "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        );
      listRv = token.rv;
      startAfter = token.after;
    }
    const limit = Number(query.limit) > 0 ? Number(query.limit) : Number.POSITIVE_INFINITY;
    const { items: page, remaining } = this.page(type, namespace, selector, startAfter, limit);
    const last = page[page.length - 1];
    const metadata: Json = { resourceVersion: String(listRv) };
    if (remaining > 0 && last) {
      metadata.continue = encodeContinue({ rv: listRv, after: objectId(last.metadata as Json) });
      metadata.remainingItemCount = remaining;
    }
    return sendJson(res, 200, {
      kind: type.listKind,
      apiVersion: type.group ? `${type.group}/${version}` : version,
      metadata,
      // Real servers omit kind and apiVersion on the items of built-in lists.
      items: page.map((o) => (type.group ? asVersion(o, type, version) : stripTypeMeta(o))),
    });
  }

  private watch(
    type: ServedType,
    version: string,
    namespace: string | undefined,
    selector: Selector,
    query: Record<string, string>,
    res: ServerResponse,
  ): number {
    const fromRv = query.resourceVersion ? Number(query.resourceVersion) : 0;
    const key = this.keyOf(type.group, type.kind);
    if (fromRv > 0 && fromRv < this.compactedRv && this.options.expiredAs === "status")
      return sendStatus(
        res,
        410,
        "Expired",
        `too old resource version: ${fromRv} (${this.compactedRv})`,
      );
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Transfer-Encoding": "chunked",
      "Cache-Control": "no-cache, private",
    });
    res.flushHeaders();
    const w: Watcher = {
      typeKey: key,
      namespace,
      selector,
      bookmarks: query.allowWatchBookmarks === "true",
      res,
      stalled: false,
    };
    if (fromRv > 0 && fromRv < this.compactedRv) {
      this.write(w, { type: "ERROR", object: expiredStatus(fromRv, this.compactedRv) });
      res.end();
      return 200;
    }
    if (fromRv === 0) {
      for (const o of this.visible(type, namespace, selector))
        this.write(w, { type: "ADDED", object: asVersion(o, type, version) });
    } else {
      for (const e of this.log) if (e.typeKey === key && e.rv > fromRv) this.deliver(w, e);
    }
    this.watchers.add(w);
    res.on("close", () => this.watchers.delete(w));
    return 200;
  }
}

// ---- helpers ----------------------------------------------------------------------------

type Selector = (object: Json) => boolean;

/** The selector of a request without one. */
const matchAll: Selector = () => true;

/** Equality-based selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, joined by commas. */
export function parseSelector(text: string | undefined): Selector {
  if (!text) return matchAll;
  const terms = text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  return (object) => {
    const labels =
      ((object.metadata as Json | undefined)?.labels as Record<string, string> | undefined) ?? {};
    return terms.every((term) => {
      const ne = /^([^!=]+)!=(.*)$/.exec(term);
      if (ne) return labels[ne[1]!.trim()] !== ne[2]!.trim();
      const eq = /^([^!=]+)==?(.*)$/.exec(term);
      if (eq) return labels[eq[1]!.trim()] === eq[2]!.trim();
      if (term.startsWith("!")) return !(term.slice(1) in labels);
      return term in labels;
    });
  };
}

function parsePath(
  path: string,
):
  | { group: string; version: string; namespace?: string; plural?: string; name?: string }
  | undefined {
  const parts = path.split("/").filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === "api") {
    group = "";
    rest = parts.slice(1);
  } else if (parts[0] === "apis" && parts.length >= 3) {
    group = parts[1]!;
    rest = parts.slice(2);
  } else return undefined;
  const [version, ...tail] = rest;
  if (!version) return undefined;
  let namespace: string | undefined;
  if (tail[0] === "namespaces" && tail.length >= 3) {
    namespace = decodeURIComponent(tail[1]!);
    tail.splice(0, 2);
  }
  const [plural, name, ...extra] = tail;
  if (extra.length > 0) return undefined;
  return {
    group,
    version,
    ...(namespace ? { namespace } : {}),
    ...(plural ? { plural } : {}),
    ...(name ? { name } : {}),
  };
}

/** The index of the first id greater than `after` in sorted `ids` (binary search). */
function firstAfter(ids: string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function objectId(meta: Json): string {
  return `${(meta.namespace as string | undefined) ?? ""}/${meta.name as string}`;
}

function apiVersion(type: ServedType, version = type.versions[0]!): string {
  return type.group ? `${type.group}/${version}` : version;
}

function asVersion(object: Json, type: ServedType, version: string): Json {
  return { ...object, apiVersion: apiVersion(type, version), kind: type.kind };
}

function stripTypeMeta(object: Json): Json {
  const { apiVersion: _a, kind: _k, ...rest } = object;
  return rest;
}

/** Deterministic, increasing times: one second per resourceVersion. */
function timeOf(rv: number): string {
  return new Date(Date.parse("2026-01-01T00:00:00Z") + rv * 1000)
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z");
}

function encodeContinue(token: { rv: number; after: string }): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

function decodeContinue(text: string): { rv: number; after: string } | undefined {
  try {
    const token = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as {
      rv?: unknown;
      after?: unknown;
    };
    return typeof token.rv === "number" && typeof token.after === "string"
      ? { rv: token.rv, after: token.after }
      : undefined;
  } catch {
    return undefined;
  }
}

function expiredStatus(fromRv: number, compactedRv = fromRv): Json {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `too old resource version: ${fromRv} (${compactedRv})`,
    reason: "Expired",
    code: 410,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): number {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
  return status;
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): number {
  return sendJson(res, code, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  });
}
