import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as the receiver got it. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
}

/** What to answer to the n-th request (1-based): a status and extra headers. */
export type Answer = (
  n: number,
  request: { headers: IncomingHttpHeaders; body: string },
) => {
  status: number;
  headers?: Record<string, string>;
};

/** A real HTTP server on a loopback port that records every request. */
export interface Receiver {
  url: string;
  requests: Received[];
  answer: Answer;
  close(): Promise<void>;
}

export async function startReceiver(answer: Answer = () => ({ status: 200 })): Promise<Receiver> {
  const requests: Received[] = [];
  const receiver: Receiver = { url: "", requests, answer, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const { status, headers } = receiver.answer(requests.length + 1, {
        headers: req.headers,
        body,
      });
      requests.push({ headers: req.headers, body, status });
      res.writeHead(status, headers);
      res.end(status < 300 ? "ok" : "no");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  receiver.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

/** A loopback port with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
