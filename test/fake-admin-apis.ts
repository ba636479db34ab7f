import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  status: number;
}

/** What the next matching request meets instead of its answer. */
export type Fault = { status: number; body?: string } | { hang: true };

interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

/**
 * A local admin API on 127.0.0.1:0: a flavour answers GETs from its collections; this
 * base adds what the real ones do around that: ETags and 304s (when on), auth checks,
 * injected faults (an error status, or no answer at all), and a log of every request.
 */
export abstract class FakeAdminApi {
  readonly collections = new Map<string, Obj[]>();
  readonly requests: RecordedRequest[] = [];
  /** Answer with an ETag and honour If-None-Match. */
  etags = false;
  private readonly faults: { match: (url: string) => boolean; fault: Fault; times: number }[] = [];
  private readonly hanging: ServerResponse[] = [];
  private server: Server | undefined;
  private counter = 0;

  /** Header and value every request must carry (else 401). */
  constructor(protected readonly auth: [string, string] | undefined) {}

  /** Listens on 127.0.0.1:0; with `tls`, over HTTPS, refusing (401) a client without a valid certificate. */
  async start(tls?: { key: Buffer; cert: Buffer; ca: Buffer }): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res);
    this.server = tls
      ? createHttpsServer({ ...tls, requestCert: true, rejectUnauthorized: false }, handler)
      : createServer(handler);
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    return `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging.splice(0)) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** Deterministic UUID-shaped ids. */
  nextId(): string {
    this.counter += 1;
    return `00000000-0000-4000-8000-${this.counter.toString().padStart(12, "0")}`;
  }

  list(name: string): Obj[] {
    let list = this.collections.get(name);
    if (!list) {
      list = [];
      this.collections.set(name, list);
    }
    return list;
  }

  /** The next `times` requests whose URL contains `fragment` meet `fault`. */
  fail(fragment: string, fault: Fault, times = 1): void {
    this.faults.push({ match: (url) => url.includes(fragment), fault, times });
  }

  clearFaults(): void {
    this.faults.splice(0);
  }

  protected abstract answer(path: string, query: URLSearchParams): Answer;

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    const record = { method: req.method ?? "GET", url, headers: req.headers, status: 0 };
    this.requests.push(record);
    const faultIndex = this.faults.findIndex((f) => f.match(url));
    if (faultIndex !== -1) {
      const entry = this.faults[faultIndex]!;
      if (--entry.times <= 0) this.faults.splice(faultIndex, 1);
      if ("hang" in entry.fault) {
        this.hanging.push(res);
        return;
      }
      this.reply(res, record, { status: entry.fault.status, body: entry.fault.body ?? "" });
      return;
    }
    const socket = req.socket as Partial<TLSSocket>;
    if (socket.encrypted && !socket.authorized) {
      this.reply(res, record, { status: 401, body: '{"message":"client certificate required"}' });
      return;
    }
    if (this.auth && req.headers[this.auth[0].toLowerCase()] !== this.auth[1]) {
      const echoed = JSON.stringify(req.headers);
      this.reply(res, record, {
        status: 401,
        body: `{"message":"Unauthorized","request":${echoed}}`,
      });
      return;
    }
    const parsed = new URL(url, "http://fake");
    const answer = this.answer(parsed.pathname, parsed.searchParams);
    if (this.etags && answer.status === 200) {
      const etag = `"${createHash("sha256").update(answer.body).digest("hex").slice(0, 16)}"`;
      if (req.headers["if-none-match"] === etag) {
        this.reply(res, record, { status: 304, body: "" });
        return;
      }
      answer.headers = { ...answer.headers, etag };
    }
    this.reply(res, record, answer);
  }

  private reply(res: ServerResponse, record: RecordedRequest, answer: Answer): void {
    record.status = answer.status;
    res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
    res.end(answer.body);
  }
}

const notFound: Answer = { status: 404, body: '{"message":"Not found"}' };

/**
 * Kong's admin API (DB mode), shaped after its documented examples: `{ data, next, offset }`
 * with `size` (default 100) and an opaque `offset`; `next` is a path from the API's root.
 */
export class FakeKong extends FakeAdminApi {
  static readonly COLLECTIONS = [
    "services",
    "routes",
    "plugins",
    "consumers",
    "upstreams",
    "certificates",
  ];
  /** Kong OSS before 3.4 has no `/consumer_groups` (a 404). */
  consumerGroups = true;
  private clockSeconds = 1_700_000_000;

  protected answer(path: string, query: URLSearchParams): Answer {
    const targets = /^\/upstreams\/([^/]+)\/targets$/.exec(path);
    const name = targets ? `targets:${decodeURIComponent(targets[1]!)}` : path.replace(/^\//, "");
    const served =
      FakeKong.COLLECTIONS.includes(name) ||
      (name === "consumer_groups" && this.consumerGroups) ||
      (targets !== null && this.list("upstreams").some((u) => u.id === targets[1]));
    if (!served) return notFound;
    const size = Number(query.get("size") ?? "100");
    const start = query.has("offset")
      ? Number(Buffer.from(query.get("offset")!, "base64url").toString())
      : 0;
    const all = this.list(name);
    const data = all.slice(start, start + size);
    const more = start + size < all.length;
    const offset = Buffer.from(String(start + size)).toString("base64url");
    const body = {
      data,
      next: more ? `${path}?offset=${offset}&size=${size}` : null,
      ...(more ? { offset } : {}),
    };
    return { status: 200, body: JSON.stringify(body) };
  }

  private stamp(): Obj {
    this.clockSeconds += 1;
    return { created_at: this.clockSeconds, updated_at: this.clockSeconds };
  }

  addService(name: string, extra: Obj = {}): Obj {
    const service: Obj = {
      id: this.nextId(),
      ...this.stamp(),
      name,
      retries: 5,
      protocol: "http",
      host: `${name}.internal`,
      port: 80,
      path: null,
      connect_timeout: 60000,
      write_timeout: 60000,
      read_timeout: 60000,
      tags: null,
      client_certificate: null,
      tls_verify: null,
      tls_verify_depth: null,
      ca_certificates: null,
      enabled: true,
      ...extra,
    };
    this.list("services").push(service);
    return service;
  }

  addRoute(name: string, service: Obj | null, extra: Obj = {}): Obj {
    const route: Obj = {
      id: this.nextId(),
      ...this.stamp(),
      name,
      protocols: ["http", "https"],
      methods: null,
      hosts: null,
      paths: [`/${name}`],
      headers: null,
      https_redirect_status_code: 426,
      regex_priority: 0,
      strip_path: true,
      path_handling: "v0",
      preserve_host: false,
      request_buffering: true,
      response_buffering: true,
      tags: null,
      service: service ? { id: service.id as string } : null,
      ...extra,
    };
    this.list("routes").push(route);
    return route;
  }

  addPlugin(
    name: string,
    attach: { service?: Obj; route?: Obj; consumer?: Obj; consumer_group?: Obj },
    config: Obj,
  ): Obj {
    const plugin: Obj = {
      id: this.nextId(),
      ...this.stamp(),
      name,
      instance_name: null,
      route: attach.route ? { id: attach.route.id as string } : null,
      service: attach.service ? { id: attach.service.id as string } : null,
      consumer: attach.consumer ? { id: attach.consumer.id as string } : null,
      consumer_group: attach.consumer_group ? { id: attach.consumer_group.id as string } : null,
      config,
      protocols: ["grpc", "grpcs", "http", "https"],
      enabled: true,
      tags: null,
      ordering: null,
    };
    this.list("plugins").push(plugin);
    return plugin;
  }

  addConsumer(username: string): Obj {
    const consumer: Obj = {
      id: this.nextId(),
      ...this.stamp(),
      username,
      custom_id: null,
      tags: null,
    };
    this.list("consumers").push(consumer);
    return consumer;
  }

  addUpstream(name: string): Obj {
    const upstream: Obj = {
      id: this.nextId(),
      ...this.stamp(),
      name,
      algorithm: "round-robin",
      hash_on: "none",
      hash_fallback: "none",
      hash_on_cookie_path: "/",
      slots: 10000,
      healthchecks: { active: { type: "http", http_path: "/", timeout: 1, concurrency: 10 } },
      tags: null,
      host_header: null,
      client_certificate: null,
      use_srv_name: false,
    };
    this.list("upstreams").push(upstream);
    return upstream;
  }

  addTarget(upstream: Obj, target: string, weight = 100): Obj {
    const entry: Obj = {
      id: this.nextId(),
      ...this.stamp(),
      upstream: { id: upstream.id as string },
      target,
      weight,
      tags: null,
    };
    this.list(`targets:${upstream.id}`).push(entry);
    return entry;
  }

  addConsumerGroup(name: string): Obj {
    const group: Obj = { id: this.nextId(), ...this.stamp(), name, tags: null };
    this.list("consumer_groups").push(group);
    return group;
  }

  addCertificate(sni: string, key: string): Obj {
    const certificate: Obj = {
      id: this.nextId(),
      created_at: this.stamp().created_at as number,
      cert: `-----BEGIN CERTIFICATE-----\nMIIC${sni}\n-----END CERTIFICATE-----`,
      key,
      cert_alt: null,
      key_alt: null,
      tags: null,
      snis: [sni],
    };
    this.list("certificates").push(certificate);
    return certificate;
  }

  remove(collection: string, name: string): void {
    const list = this.list(collection);
    const index = list.findIndex((e) => e.name === name || e.username === name);
    if (index === -1) throw new Error(`no ${collection} ${name}`);
    list.splice(index, 1);
  }

  find(collection: string, name: string): Obj {
    const found = this.list(collection).find((e) => e.name === name || e.username === name);
    if (!found) throw new Error(`no ${collection} ${name}`);
    return found;
  }
}

/**
 * APISIX 3's admin API: `/apisix/admin/<resource>` with `X-API-KEY`, lists as
 * `{ total, list: [{ key, value, createdIndex, modifiedIndex }] }` (an empty one as
 * `list: {}`, as some 3.x versions do), pages with `page` / `page_size`.
 */
export class FakeApisix extends FakeAdminApi {
  private index = 10;

  constructor(apiKey: string) {
    super(["x-api-key", apiKey]);
  }

  put(resource: string, id: string, value: Obj): void {
    const list = this.list(resource);
    const existing = list.findIndex(
      (e) => (e.value as Obj).id === id || (e.value as Obj).username === id,
    );
    this.index += 1;
    const entry: Obj = {
      key: `/apisix/${resource}/${id}`,
      value: {
        ...value,
        create_time: 1700000000 + this.index,
        update_time: 1700000000 + this.index,
      },
      createdIndex: existing === -1 ? this.index : ((list[existing]!.createdIndex as number) ?? 0),
      modifiedIndex: this.index,
    };
    if (existing === -1) list.push(entry);
    else list[existing] = entry;
  }

  delete(resource: string, id: string): void {
    const list = this.list(resource);
    list.splice(
      list.findIndex((e) => (e.value as Obj).id === id || (e.value as Obj).username === id),
      1,
    );
  }

  protected answer(path: string, query: URLSearchParams): Answer {
    const match = /^\/apisix\/admin\/([a-z_]+)$/.exec(path);
    if (!match) return notFound;
    const all = this.list(match[1]!);
    const page = Number(query.get("page") ?? "1");
    const size = Number(query.get("page_size") ?? String(all.length || 1));
    const slice = all.slice((page - 1) * size, page * size);
    const body = { total: all.length, list: slice.length === 0 ? {} : slice };
    return { status: 200, body: JSON.stringify(body) };
  }
}

/** The LiteLLM proxy's `/model/info` behind its master key (`Authorization: Bearer`). */
export class FakeLiteLLM extends FakeAdminApi {
  constructor(masterKey: string) {
    super(["authorization", `Bearer ${masterKey}`]);
  }

  /** What `/get/config/callbacks` answers as `router_settings`; undefined: a 404. */
  routerSettings: Obj | undefined = undefined;

  protected answer(path: string): Answer {
    if (path === "/model/info") {
      return { status: 200, body: JSON.stringify({ data: this.list("models") }) };
    }
    if (path === "/get/config/callbacks" && this.routerSettings) {
      const callbacks = [{ name: "langfuse", variables: { LANGFUSE_SECRET_KEY: "sk-lf-secret" } }];
      const body = {
        status: "success",
        callbacks,
        alerts: [],
        router_settings: this.routerSettings,
      };
      return { status: 200, body: JSON.stringify(body) };
    }
    return notFound;
  }
}

/**
 * A plain JSON endpoint: `/things` pages with a `Link: rel="next"` header, `/cursor` with
 * `{ items, next_cursor }` and a `cursor` parameter.
 */
export class FakeGeneric extends FakeAdminApi {
  pageSize = 2;

  protected answer(path: string, query: URLSearchParams): Answer {
    const all = this.list("things");
    if (path === "/things") {
      const page = Number(query.get("page") ?? "1");
      const slice = all.slice((page - 1) * this.pageSize, page * this.pageSize);
      const more = page * this.pageSize < all.length;
      const headers: Record<string, string> = more
        ? { link: `</things?page=${page + 1}>; rel="next", </things?page=1>; rel="first"` }
        : {};
      return { status: 200, body: JSON.stringify({ result: { things: slice } }), headers };
    }
    if (path === "/cursor") {
      const start = Number(query.get("cursor") ?? "0");
      const slice = all.slice(start, start + this.pageSize);
      const more = start + this.pageSize < all.length;
      return {
        status: 200,
        body: JSON.stringify({
          items: slice,
          next_cursor: more ? String(start + this.pageSize) : null,
        }),
      };
    }
    return notFound;
  }
}
