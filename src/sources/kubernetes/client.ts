import http from "node:http";
import https from "node:https";
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

/** A watch (or any streamed GET) answered with 200: its body, line by line. */
export interface KubeStream {
  lines: AsyncIterable<string>;
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

  /** GET a streamed answer (a watch): its lines as they arrive. */
  async stream(path: string, signal: AbortSignal): Promise<KubeStream> {
    const res = await this.open(path, signal);
    return { lines: splitLines(res) };
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

/** Splits a chunked body on newlines; a connection cut mid-stream throws from the iterator. */
async function* splitLines(res: http.IncomingMessage): AsyncGenerator<string> {
  let rest = "";
  res.setEncoding("utf8");
  for await (const chunk of res) {
    rest += chunk as string;
    let newline = rest.indexOf("\n");
    while (newline !== -1) {
      const line = rest.slice(0, newline).trim();
      rest = rest.slice(newline + 1);
      if (line) yield line;
      newline = rest.indexOf("\n");
    }
  }
  if (rest.trim()) yield rest.trim();
}
