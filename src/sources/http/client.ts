import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { Clock } from "../../core/clock.js";
import { CrwatchError } from "../../model/errors.js";
import type { HttpTlsConfig } from "./config.js";
import type { SecretText } from "./redact.js";

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpClientOptions {
  headers: Record<string, string>;
  timeoutMs: number;
  maxResponseBytes: number;
  tls?: HttpTlsConfig;
  clock: Clock;
  secrets: SecretText;
}

/**
 * GETs with the source's headers, its TLS settings and a timeout on the injected clock (so
 * a hanging server is tested on fake time). Every error message passes through the secret
 * mask before it leaves here.
 */
export class HttpClient {
  private readonly agentHttps: https.Agent;
  private readonly agentHttp = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(private readonly options: HttpClientOptions) {
    const tls = options.tls ?? {};
    this.agentHttps = new https.Agent({
      keepAlive: true,
      maxSockets: 4,
      ...(tls.ca ? { ca: readPem(tls.ca, "tls.ca") } : {}),
      ...(tls.cert ? { cert: readPem(tls.cert, "tls.cert") } : {}),
      ...(tls.key ? { key: readPem(tls.key, "tls.key") } : {}),
      rejectUnauthorized: tls.insecureSkipVerify !== true,
    });
  }

  get(url: string, extra: Record<string, string>, signal: AbortSignal): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      const isHttps = target.protocol === "https:";
      const fail = (message: string, cause?: unknown) =>
        reject(
          new CrwatchError("CRW_HTTP_REQUEST", this.options.secrets.mask(message), {
            cause:
              cause instanceof Error ? new Error(this.options.secrets.mask(cause.message)) : cause,
          }),
        );
      const where = `GET ${redactUrl(target)}`;
      const req = (isHttps ? https : http).request(target, {
        method: "GET",
        agent: isHttps ? this.agentHttps : this.agentHttp,
        headers: { accept: "application/json", ...this.options.headers, ...extra },
      });
      const timer = this.options.clock.setTimeout(() => {
        req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      const onAbort = () => req.destroy(new Error("stopped"));
      signal.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        this.options.clock.clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      req.on("error", (err) => {
        done();
        fail(`${where}: ${err.message}`, err);
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.options.maxResponseBytes) {
            req.destroy(
              new Error(`response larger than maxResponseBytes (${this.options.maxResponseBytes})`),
            );
          } else chunks.push(chunk);
        });
        res.on("end", () => {
          done();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          });
        });
        res.on("error", () => undefined); // reported by req's error
      });
      req.end();
    });
  }

  close(): void {
    this.agentHttp.destroy();
    this.agentHttps.destroy();
  }
}

function readPem(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CrwatchError(
      "CRW_CONFIG_INVALID",
      `${field}: cannot read ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** A URL without its user info, for messages. */
export function redactUrl(url: URL): string {
  if (!url.username && !url.password) return url.toString();
  const copy = new URL(url.toString());
  copy.username = "";
  copy.password = "";
  return copy.toString();
}
