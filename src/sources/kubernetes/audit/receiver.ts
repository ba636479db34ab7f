import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { CrwatchError } from "../../../model/errors.js";
import type { AuditIndex, AuditRecord } from "./index.js";

export interface AuditReceiverOptions {
  /** `host:port` to listen on (port 0: any free port). */
  listen: string;
  token: string;
  maxBodyBytes: number;
}

/** Only writes make changes; reads and failed requests attach to nothing. */
const WRITE_VERBS = new Set(["create", "update", "patch", "delete"]);

/**
 * The endpoint the API server's audit webhook posts to (`audit.k8s.io/v1` EventList). It
 * requires the configured bearer token (401 otherwise) and refuses bodies over the limit
 * (413) before parsing; a refused request changes nothing.
 */
export class AuditReceiver {
  private readonly server: Server;

  constructor(
    private readonly options: AuditReceiverOptions,
    private readonly index: AuditIndex,
    private readonly log: Logger,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.log.error({ err }, "audit request failed");
        reply(res, 500, "internal error");
      });
    });
  }

  /** Starts listening; resolves with the bound `host:port`. */
  async start(): Promise<string> {
    const [host, port] = splitListen(this.options.listen);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", (err) =>
        reject(
          new CrwatchError(
            "CRW_K8S_AUDIT",
            `audit receiver cannot listen on ${this.options.listen}: ${err.message}`,
            { cause: err },
          ),
        ),
      );
      this.server.listen(port, host, resolve);
    });
    const address = this.server.address() as AddressInfo;
    return `${address.address}:${address.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorized(req.headers.authorization))
      return reply(res, 401, "a bearer token is required");
    if (req.method !== "POST") return reply(res, 405, "POST an audit.k8s.io/v1 EventList");
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > this.options.maxBodyBytes)
      return reply(res, 413, `body over ${this.options.maxBodyBytes} bytes`);
    const body = await readLimited(req, this.options.maxBodyBytes);
    if (body === undefined) return reply(res, 413, `body over ${this.options.maxBodyBytes} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return reply(res, 400, "the body is not JSON");
    }
    const list = parsed as { kind?: unknown; apiVersion?: unknown; items?: unknown };
    if (
      list?.kind !== "EventList" ||
      list.apiVersion !== "audit.k8s.io/v1" ||
      !Array.isArray(list.items)
    )
      return reply(res, 400, "expected an audit.k8s.io/v1 EventList");
    const records = list.items.flatMap((item) => toRecord(item as AuditEvent));
    this.index.add(records);
    reply(res, 200, `accepted ${records.length} of ${list.items.length} events`);
  }

  private authorized(header: string | undefined): boolean {
    const expected = Buffer.from(`Bearer ${this.options.token}`);
    const given = Buffer.from(header ?? "");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

interface AuditEvent {
  auditID?: string;
  stage?: string;
  verb?: string;
  user?: { username?: string; groups?: string[] };
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: {
    resource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    resourceVersion?: string;
    subresource?: string;
  };
  responseStatus?: { code?: number };
  responseObject?: { metadata?: { resourceVersion?: string } };
  stageTimestamp?: string;
}

/** An audit event as a record to match, or nothing when it cannot be a change. */
function toRecord(event: AuditEvent): AuditRecord[] {
  const ref = event.objectRef;
  if (!event.verb || !WRITE_VERBS.has(event.verb)) return [];
  if (event.stage && event.stage !== "ResponseComplete") return [];
  if (!ref?.resource || !ref.name || ref.subresource) return [];
  if ((event.responseStatus?.code ?? 200) >= 400) return [];
  const user = event.user?.username ?? "unknown";
  const at = Date.parse(event.stageTimestamp ?? "");
  const rv = event.responseObject?.metadata?.resourceVersion ?? ref.resourceVersion;
  const details: Record<string, string> = { verb: event.verb, user };
  if (event.user?.groups?.length) details.groups = event.user.groups.join(",");
  if (event.userAgent) details.userAgent = event.userAgent;
  if (event.sourceIPs?.length) details.sourceIPs = event.sourceIPs.join(",");
  return [
    {
      key: {
        group: ref.apiGroup ?? "",
        resource: ref.resource,
        namespace: ref.namespace ?? "",
        name: ref.name,
      },
      ...(rv ? { resourceVersion: rv } : {}),
      at: Number.isNaN(at) ? Date.now() : at,
      facts: {
        actor: { name: user, ...(event.userAgent ? { via: event.userAgent } : {}) },
        cause: {
          kind: "audit",
          ...(event.auditID ? { id: event.auditID } : {}),
          message: `${event.verb} by ${user}`,
          ...(event.stageTimestamp ? { time: event.stageTimestamp } : {}),
          details,
        },
      },
    },
  ];
}

function splitListen(listen: string): [string, number] {
  const colon = listen.lastIndexOf(":");
  return [listen.slice(0, colon) || "127.0.0.1", Number(listen.slice(colon + 1))];
}

/** The body, or undefined once it passes `limit` bytes (the rest is not read). */
async function readLimited(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function reply(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return;
  const body = JSON.stringify({ message });
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    ...(status === 413 ? { Connection: "close" } : {}),
  });
  res.end(body);
}
