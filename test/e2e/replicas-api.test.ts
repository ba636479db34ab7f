import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tokenDigest } from "../../src/api/auth.js";
import { readEvents, type SseEvent } from "../../src/api/sse.js";
import type { Change } from "../../src/model/change.js";
import { postgresUrl, tempDir, waitFor } from "../helpers.js";
import { dropSchema, uniqueSchema } from "../postgres.js";
import { cli, type Served, serve, stop, waitUntilWatching } from "./process.js";

const TOKEN = "replica-api-token-0123456789";
const auth = { Authorization: `Bearer ${TOKEN}` };

function route(name: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: shop
spec:
  hostnames: [${name}.example.com]
`;
}

/** The address a serve process logged for its API (`--api-listen 127.0.0.1:0` picks a port). */
async function apiUrl(served: Served): Promise<string> {
  const match = await waitFor(
    () => /API and UI at (http:\/\/[\d.]+:\d+)/.exec(served.stderr()),
    20_000,
    "the API address in the log",
  );
  return match[1] as string;
}

/** The next change event whose ref is named `name`. */
async function changeNamed(events: AsyncGenerator<SseEvent>, name: string): Promise<Change> {
  for (;;) {
    const { value, done } = await events.next();
    if (done) throw new Error(`the stream ended before a change of ${name}`);
    if (value.event !== "change") continue;
    const change = JSON.parse(value.data) as Change;
    if (change.ref.name === name) return change;
  }
}

describe("the API on every serve replica of one PostgreSQL store", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  const schema = uniqueSchema("replicaapi");
  const target = `${postgresUrl}?schema=${schema}`;
  const running: Served[] = [];
  const aborts: AbortController[] = [];
  before(async () => {
    tmp = await tempDir("crwatch-replica-api-");
  });
  after(async () => {
    for (const abort of aborts) abort.abort();
    for (const served of running) if (served.child.exitCode === null) served.child.kill("SIGKILL");
    await dropSchema(schema);
    await tmp.cleanup();
  });

  it("should stream and list on replica B a change that replica A committed", async () => {
    const watched = join(tmp.path, "cfg");
    await mkdir(watched);
    const config = join(tmp.path, "crwatch.yaml");
    await writeFile(
      config,
      `store:\n  type: postgres\n  url: "${postgresUrl}"\n  schema: ${schema}\n  leaseTtlMs: 1000\n` +
        `sources:\n  - name: local\n    type: files\n    paths: [${watched}]\nsinks: []\n` +
        `api:\n  listen: 127.0.0.1:7070\n  tokens:\n` +
        `    - { name: reader, role: viewer, sha256: ${tokenDigest(TOKEN)} }\n`,
    );
    // Each replica on its own address: the flag overrides api.listen of the shared file.
    const a = serve(["--config", config, "--api-listen", "127.0.0.1:0"], tmp.path);
    running.push(a);
    await waitUntilWatching(a);
    const b = serve(["--config", config, "--api-listen", "127.0.0.1:0"], tmp.path);
    running.push(b);
    await waitUntilWatching(b);
    const [urlA, urlB] = [await apiUrl(a), await apiUrl(b)];
    assert.notEqual(urlA, urlB);
    // A started first and drives the source; B only reads.
    const aHolds = new RegExp(`source:local: \\S+:${a.child.pid} `);
    assert.match(cli(["status", "--data-dir", target]).stdout, aHolds);

    const abort = new AbortController();
    aborts.push(abort);
    const res = await fetch(`${urlB}/api/v1/watch`, { headers: auth, signal: abort.signal });
    assert.equal(res.status, 200);
    const events = readEvents(res.body as ReadableStream<Uint8Array>);
    await writeFile(join(watched, "checkout.yaml"), route("checkout"));
    // A commits it; PostgreSQL's NOTIFY wakes B's watch hub, which reads it from the log.
    const streamed = await changeNamed(events, "checkout");
    assert.equal(streamed.type, "ADDED");
    assert.match(cli(["status", "--data-dir", target]).stdout, aHolds, "A committed it");

    const list = (await (
      await fetch(`${urlB}/api/v1/changes?name=checkout`, { headers: auth })
    ).json()) as { items: Change[] };
    assert.deepEqual(
      list.items.map((c) => c.seq),
      [streamed.seq],
    );
    const one = await fetch(`${urlB}/api/v1/changes/${streamed.seq}`, { headers: auth });
    assert.equal(((await one.json()) as { change: Change }).change.id, streamed.id);
    assert.equal((await fetch(`${urlB}/readyz`)).status, 200);

    abort.abort();
    await events.return(undefined).catch(() => undefined);
    assert.equal((await stop(b)).code, 0, b.stderr());
    assert.equal((await stop(a)).code, 0, a.stderr());
  });
});
