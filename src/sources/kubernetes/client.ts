import http from "node:http";
import https from "node:https";
import { finished } from "node:stream";
import { KubeConfig } from "@kubernetes/client-node";
import { CrwatchError, errorMessage } from "../../model/errors.js";

/** An error status from the API server, with its `Status` message when it sent one. */
export class KubeHttpError extends CrwatchError {
  constructor(
    readonly status: number,
    readonly path: string,
    readonly reason: string,
    detail: string,
  ) {
    super("CRW_K8S_HTTP", `GET ${path}: ${status} ${reason}${detail ? `: ${detail}` : ""}`);
  }
}

/** A watch (or any streamed GET) answered with 200: its body's lines. */
export interface KubeStream {
  /** In batches: each holds every complete line received since the previous one was taken. */
  lines: AsyncIterable<string[]>;
}

/**
 * The only thing crwatch takes from @kubernetes/client-node: loading a kubeconfig (files,
 * contexts, in-cluster account) and applying its authentication (client certificates,
 * tokens, exec plugins, OIDC) to each request. The requests themselves are plain node:http,
 * so the list/watch loop above it is ours.
 */
export class KubeClient {
  private constructor(
    private readonly kc: KubeConfig,
    private readonly server: URL,
  ) {}

  static load(options: {
    kubeconfig?: string | undefined;
    context?: string | undefined;
  }): KubeClient {
    const kc = new KubeConfig();
    try {
      if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
      else kc.loadFromDefault();
      if (options.context) kc.setCurrentContext(options.context);
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new Error(`context "${kc.getCurrentContext()}" names no cluster`);
      if (options.context && !kc.getContextObject(options.context))
        throw new Error(`no context "${options.context}" in the kubeconfig`);
      return new KubeClient(kc, new URL(cluster.server));
    } catch (err) {
      const where = options.kubeconfig ?? "the default kubeconfig / in-cluster account";
      throw new CrwatchError("CRW_K8S_CONFIG", `${where}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Where requests go, for messages. */
  get serverUrl(): string {
    return this.server.href;
  }

  /** GET a JSON document; an error status throws a KubeHttpError. */
  async getJson(path: string, signal: AbortSignal): Promise<unknown> {
    const res = await this.open(path, signal);
    const body = await readBody(res);
    try {
      return JSON.parse(body);
    } catch (err) {
      throw new CrwatchError("CRW_K8S_HTTP", `GET ${path}: the answer is not JSON`, { cause: err });
    }
  }

  /**
   * GET a body as bytes in a buffer of their own (not a slice of Node's shared pool), so it
   * can be moved to a worker; an error status throws a KubeHttpError.
   */
  async getBytes(path: string, signal: AbortSignal): Promise<Uint8Array> {
    const res = await this.open(path, signal);
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of res) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
    }
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    return bytes;
  }

  /** GET a streamed answer (a watch): its lines as they arrive. */
  async stream(path: string, signal: AbortSignal): Promise<KubeStream> {
    const res = await this.open(path, signal);
    return { lines: lineBatches(res) };
  }

  private async open(path: string, signal: AbortSignal): Promise<http.IncomingMessage> {
    const url = new URL(path, this.server);
    // Credentials may rotate (exec plugins, OIDC, projected tokens): ask for them each time.
    const options: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(options);
    const lib = url.protocol === "https:" ? https : http;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = lib.request(url, {
        ...options,
        method: "GET",
        headers: { ...options.headers, Accept: "application/json" },
        signal,
      });
      req.on("response", resolve);
      req.on("error", reject);
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const body = await readBody(res).catch(() => "");
    throw new KubeHttpError(status, url.pathname, res.statusMessage ?? "", statusMessage(body));
  }
}

/** The `message` of a Kubernetes Status body, or the body's start. */
function statusMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
  } catch {
    // not JSON: show what came
  }
  return body.slice(0, 200).trim();
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Received lines not yet taken, in characters, past which reading pauses (back-pressure). */
const MAX_PENDING_CHARS = 4 * 1024 * 1024;

/**
 * Splits a chunked body on newlines. The body flows: it is read as fast as the socket
 * delivers, not one chunk per turn of the event loop as an async iterator of the response
 * reads it, and each step takes every line received since the last. So a consumer that was
 * busy (committing the previous batch) finds the lines that came meanwhile, and its next
 * batch is larger; under load the cost of a commit is shared by many events instead of a
 * chunk's worth. Lines received before a connection is cut are yielded, then the iterator
 * throws.
 */
async function* lineBatches(res: http.IncomingMessage): AsyncGenerator<string[]> {
  let lines: string[] = [];
  let pendingChars = 0;
  let rest = "";
  let outcome: { error: unknown } | "ended" | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  res.setEncoding("utf8");
  res.on("data", (chunk: string) => {
    rest += chunk;
    let start = 0;
    for (let newline = rest.indexOf("\n"); newline !== -1; newline = rest.indexOf("\n", start)) {
      const line = rest.slice(start, newline).trim();
      if (line) lines.push(line);
      pendingChars += newline - start;
      start = newline + 1;
    }
    rest = rest.slice(start);
    if (pendingChars > MAX_PENDING_CHARS) res.pause();
    notify();
  });
  // Reports a connection cut before the body's end (premature close) as an error.
  finished(res, (err) => {
    outcome ??= err ? { error: err } : "ended";
    notify();
  });
  try {
    for (;;) {
      if (lines.length > 0) {
        const batch = lines;
        lines = [];
        pendingChars = 0;
        if (res.isPaused()) res.resume();
        yield batch;
      } else if (outcome === "ended") {
        const last = rest.trim();
        if (last) yield [last];
        return;
      } else if (outcome) {
        throw outcome.error;
      } else {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    }
  } finally {
    res.destroy();
  }
}
