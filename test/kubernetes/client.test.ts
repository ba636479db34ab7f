import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { KubeClient } from "../../src/sources/kubernetes/client.js";
import { writeKubeconfig } from "../fake-kube/fixtures.js";
import { tempDir, waitFor } from "../helpers.js";

/**
 * The watch body reader: lines in order however the body is cut into chunks, every line
 * received before a dropped connection, then the error.
 */
describe("kubernetes client: streamed lines", () => {
  let handler: (res: ServerResponse) => void = () => undefined;
  const server = createServer((_req, res) => handler(res));
  let client: KubeClient;
  let cleanup: () => Promise<void>;

  before(async () => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const dir = await tempDir();
    cleanup = dir.cleanup;
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = KubeClient.load({ kubeconfig: await writeKubeconfig(dir.path, url) });
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await cleanup();
  });

  /** Writes the parts one turn of the event loop apart (separate chunks), then `finish`. */
  function serve(parts: string[], finish: (res: ServerResponse) => void): void {
    handler = (res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      const next = (i: number) => {
        if (i === parts.length) return finish(res);
        res.write(parts[i]);
        setImmediate(() => next(i + 1));
      };
      next(0);
    };
  }

  async function readAll(lines: AsyncIterable<string[]>, into: string[]): Promise<void> {
    for await (const batch of lines) {
      assert.ok(batch.length > 0, "a batch is never empty");
      into.push(...batch);
    }
  }

  it("should give every line in order, joining lines cut across chunks and skipping blank ones", async () => {
    serve(['{"a":1}\n{"b"', ':2}\n\n  \n{"c":3}\n{"d":4}\n{"e"', ":5}"], (res) => res.end());
    const { lines } = await client.stream("/watch", new AbortController().signal);
    const got: string[] = [];
    await readAll(lines, got);
    assert.deepStrictEqual(got, ['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}', '{"e":5}']);
  });

  it("should give the lines received before a dropped connection, then throw", async () => {
    serve(['{"a":1}\n{"b":2}\n', '{"c":3}\n{"cut'], (res) => res.socket?.destroy());
    const { lines } = await client.stream("/watch", new AbortController().signal);
    const got: string[] = [];
    await assert.rejects(readAll(lines, got));
    assert.deepStrictEqual(got, ['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it("should end with an error when the watch is cut on our side", async () => {
    serve(['{"a":1}\n'], () => undefined);
    const cut = new AbortController();
    const { lines } = await client.stream("/watch", cut.signal);
    const got: string[] = [];
    const reading = readAll(lines, got);
    await waitFor(() => got.length > 0);
    cut.abort();
    await assert.rejects(reading);
    assert.deepStrictEqual(got, ['{"a":1}']);
  });
});
