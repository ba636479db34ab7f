import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import type { Emitted, Source, SourceContext } from "../source.js";
import { readPush } from "./body.js";
import {
  type ResolvedWebhookSourceConfig,
  type WebhookSourceConfig,
  withWebhookDefaults,
} from "./config.js";
import { WebhookVerifier } from "./signature.js";

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** A push source whose bound address can be awaited (tests listen on port 0). */
export interface WebhookSource extends Source {
  listening(): Promise<AddressInfo>;
}

export function createWebhookSource(config: WebhookSourceConfig): WebhookSource {
  return new WebhookListener(withWebhookDefaults(config));
}

/**
 * Listens for signed changes on its own small node:http server (the HTTP API is built
 * elsewhere; a listener of its own keeps this source independent of it). Each request is
 * checked in this order: method and path, size (413), signature and timestamp (401),
 * a `webhook-id` already seen (answered as the first was: 200, applied once), body (400);
 * an accepted push is committed before the 2xx goes out, so a 2xx means committed.
 */
class WebhookListener implements WebhookSource {
  readonly name: string;
  readonly type = "webhook";
  private readonly verifier: WebhookVerifier;
  /** Replies by webhook-id within the tolerance window; a retry gets the first reply. */
  private readonly seen = new Map<string, { at: number; reply: Promise<Reply> }>();
  private bound: Promise<AddressInfo>;
  private markBound: (address: AddressInfo) => void = () => undefined;

  constructor(private readonly config: ResolvedWebhookSourceConfig) {
    this.name = config.name;
    this.verifier = new WebhookVerifier(config.secret, config.toleranceMs);
    this.bound = new Promise((resolve) => {
      this.markBound = resolve;
    });
  }

  listening(): Promise<AddressInfo> {
    return this.bound;
  }

  async run(ctx: SourceContext, signal: AbortSignal): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(ctx, signal, req, res).catch((err) => {
        ctx.log.error({ err }, "webhook request failed");
        send(res, { status: 500, body: { error: "internal error" } });
      });
    });
    await listen(server, this.config.host, this.config.port);
    this.markBound(server.address() as AddressInfo);
    ctx.ready();
    ctx.log.info({ address: server.address() }, "listening for pushed changes");
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    this.bound = new Promise((resolve) => {
      this.markBound = resolve;
    });
  }

  private async handle(
    ctx: SourceContext,
    signal: AbortSignal,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== this.config.path) return send(res, { status: 404, body: { error: "not found" } });
    if (req.method !== "POST")
      return send(res, { status: 405, body: { error: "use POST" } }, { allow: "POST" });
    const body = await readBody(req, this.config.maxBodyBytes);
    if (!body) {
      const error = `CRW_WEBHOOK_TOO_LARGE: body larger than ${this.config.maxBodyBytes} bytes`;
      return send(res, { status: 413, body: { error } }, { connection: "close" });
    }
    const id = header(req, "webhook-id");
    const now = ctx.clock.now();
    try {
      this.verifier.verify(
        {
          id,
          timestamp: header(req, "webhook-timestamp"),
          signature: header(req, "webhook-signature"),
        },
        body,
        now,
      );
    } catch (err) {
      ctx.log.warn({ reason: errorMessage(err), webhookId: id }, "refused a push");
      return send(res, {
        status: 401,
        body: { error: `CRW_WEBHOOK_SIGNATURE: ${errorMessage(err)}` },
      });
    }
    this.forgetOld(now);
    const earlier = this.seen.get(id!);
    if (earlier) {
      const first = await earlier.reply;
      return send(res, { status: first.status, body: { ...first.body, duplicate: true } });
    }
    const reply = this.apply(ctx, signal, id!, body, header(req, "content-type"));
    this.seen.set(id!, { at: now, reply });
    const outcome = await reply;
    // Not committed: the sender's retry must be applied, not answered from memory.
    if (outcome.status >= 500) this.seen.delete(id!);
    send(res, outcome);
  }

  private async apply(
    ctx: SourceContext,
    signal: AbortSignal,
    id: string,
    body: Buffer,
    contentType: string | undefined,
  ): Promise<Reply> {
    let emitted: Emitted;
    try {
      const push = readPush(this.name, body, contentType);
      emitted = {
        events: push.events,
        cause: { ...push.cause, kind: push.cause?.kind ?? "webhook", id: push.cause?.id ?? id },
      };
      if (push.actor) emitted.actor = { via: "webhook", ...push.actor };
    } catch (err) {
      const code = err instanceof CrwatchError ? err.code : "CRW_WEBHOOK_BODY";
      return { status: 400, body: { error: `${code}: ${errorMessage(err)}` } };
    }
    if (signal.aborted) return { status: 503, body: { error: "crwatch is stopping" } };
    try {
      await ctx.emit(emitted);
    } catch (err) {
      return { status: 503, body: { error: `not committed: ${errorMessage(err)}` } };
    }
    return {
      status: 200,
      body: { status: "committed", webhookId: id, events: emitted.events.length },
    };
  }

  /** A replay older than the tolerance fails the timestamp check, so its id can go. */
  private forgetOld(now: number): void {
    const horizon = now - 2 * this.config.toleranceMs;
    for (const [id, entry] of this.seen) {
      if (entry.at >= horizon) break;
      this.seen.delete(id);
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(" ") : value;
}

/** Past this multiple of the limit, a body is not even drained: the connection is cut. */
const DRAIN_FACTOR = 16;

/**
 * The body, or undefined when it is over the limit. The rest of an oversized body is read
 * and discarded so the sender can read the 413, up to a point; beyond it the connection
 * is cut.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers["content-length"]);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number.isFinite(declared) && declared > limit;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
      if (size > limit * DRAIN_FACTOR) req.destroy();
    });
    req.on("end", () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on("close", () => resolve(undefined));
    req.on("error", (err) => (over ? resolve(undefined) : reject(err)));
  });
}

function send(res: ServerResponse, reply: Reply, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err) =>
      reject(
        new CrwatchError("CRW_SOURCE_FAILED", `cannot listen on ${host}:${port}: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
}
