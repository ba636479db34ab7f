import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { CrwatchError } from "../../model/errors.js";
import { DeliveryLedger, verifyPushRequest } from "./webhook-verify.js";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface ReceiverOptions {
  listen: string;
  secret: string;
  maxBodyBytes?: number;
  /** Called for each accepted push; the source fetches at once. */
  onPush: () => void;
  log: Logger;
}

/**
 * A small HTTP listener for one source's push webhook (until the HTTP API can host it):
 * POST only; unsigned or wrongly signed → 401, over the size limit → 413, a delivery id seen
 * before → 409, accepted → 202. Nothing but an accepted request triggers a fetch.
 */
export class WebhookReceiver {
  private server: Server | undefined;
  private readonly ledger = new DeliveryLedger();
  private readonly maxBodyBytes: number;

  constructor(private readonly options: ReceiverOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  async start(): Promise<AddressInfo> {
    const { host, port } = parseListen(this.options.listen);
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.options.log.warn({ err }, "webhook request failed");
        reply(res, 500, "internal error");
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) =>
        reject(
          new CrwatchError(
            "CRW_WEBHOOK_LISTEN",
            `webhook listener on ${this.options.listen}: ${err.message}`,
            { cause: err },
          ),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") return reply(res, 405, "POST only");
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > this.maxBodyBytes) return reply(res, 413, "body too large", true);
    const body = await readBody(req, this.maxBodyBytes);
    if (!body) return reply(res, 413, "body too large", true);
    const verdict = verifyPushRequest(req.headers, body, this.options.secret);
    if (!verdict.ok) {
      this.options.log.warn({ reason: verdict.reason }, "webhook request rejected");
      return reply(res, 401, verdict.reason);
    }
    if (verdict.deliveryId !== undefined && !this.ledger.firstTime(verdict.deliveryId)) {
      this.options.log.warn({ delivery: verdict.deliveryId }, "webhook delivery replayed");
      return reply(res, 409, "delivery already received");
    }
    this.options.log.info({ provider: verdict.provider }, "push webhook received; fetching");
    this.options.onPush();
    reply(res, 202, "fetching");
  }
}

/** The body, or undefined once it passes the limit (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function reply(res: ServerResponse, status: number, text: string, close = false): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    ...(close && { connection: "close" }),
  });
  res.end(`${text}\n`);
}

/** `127.0.0.1:7072`, `[::1]:0`, `localhost:8080`. */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(listen.slice(i + 1)) };
}
