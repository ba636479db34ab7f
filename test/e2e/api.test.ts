import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readEvents } from "../../src/api/sse.js";
import type { Change } from "../../src/model/change.js";
import { tempDir, waitFor } from "../helpers.js";
import { type Served, serve } from "./process.js";

const ROUTE = (weight: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { namespace: shop, name: storefront }
spec:
  rules:
    - backendRefs: [{ name: v1, port: 80, weight: ${weight} }]
`;

describe("crwatch serve with an api block", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let served: Served;
  let url: string;
  before(async () => {
    tmp = await tempDir("crwatch-e2e-api-");
    await writeFile(join(tmp.path, "route.yaml"), ROUTE(90));
    await writeFile(
      join(tmp.path, "crwatch.yaml"),
      [
        "store: { path: ./data }",
        "sources: [{ name: local, type: files, paths: [./route.yaml], debounceMs: 20 }]",
        "sinks: [{ name: audit, type: jsonl, path: ./changes.jsonl }]",
        "api: { listen: '127.0.0.1:0', auth: none }",
      ].join("\n"),
    );
    served = serve(["--config", join(tmp.path, "crwatch.yaml")]);
    const line = await waitFor(
      () => /API and UI at (http:\/\/[^\s"]+)/.exec(served.stderr()),
      20_000,
      "the API address",
    );
    url = line[1] as string;
  });
  after(async () => {
    served.child.kill("SIGTERM");
    await served.exited;
    await tmp.cleanup();
  });

  it("should print its address, say auth is off, and serve the recorded history", async () => {
    assert.match(served.stderr(), /authentication is OFF/);
    const ready = await waitFor(
      async () => (await fetch(`${url}/readyz`)).status === 200,
      20_000,
      "readyz",
    );
    assert.ok(ready);
    const page = (await (await fetch(`${url}/api/v1/changes?order=asc`)).json()) as {
      items: Change[];
    };
    assert.deepEqual(
      page.items.map((c) => `${c.type} ${c.ref.name}`),
      ["ADDED storefront"],
    );
  });

  it("should stream an edit made while a client watches, then stop cleanly on SIGTERM", async () => {
    const res = await fetch(`${url}/api/v1/watch`);
    const events = readEvents(res.body as ReadableStream<Uint8Array>);
    await writeFile(join(tmp.path, "route.yaml"), ROUTE(0));
    let change: Change | undefined;
    for await (const event of events) {
      if (event.event !== "change") continue;
      change = JSON.parse(event.data) as Change;
      break;
    }
    assert.equal(change?.type, "MODIFIED");
    assert.equal(change?.seq, 2);
    served.child.kill("SIGTERM");
    assert.deepEqual(await served.exited, { code: 0, signal: null });
  });
});
