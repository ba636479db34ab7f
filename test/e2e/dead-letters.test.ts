import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir, waitFor } from "../helpers.js";
import { type Receiver, startReceiver } from "../sinks/receiver.js";
import { cli, serve, stop, waitUntilWatching } from "./process.js";

interface Letter {
  id: number;
  seq: number;
  sink: string;
  state: string;
  error: string;
}

describe("crwatch dead-letters (spawned CLI beside a running serve)", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let receiver: Receiver;
  before(async () => {
    tmp = await tempDir("crwatch-dead-letters-");
    receiver = await startReceiver(() => ({ status: 400 }));
  });
  after(async () => {
    await receiver.close();
    await tmp.cleanup();
  });

  const list = (...args: string[]): Letter[] => {
    const r = cli([
      "dead-letters",
      "list",
      "--data-dir",
      join(tmp.path, "data"),
      "--output",
      "json",
      ...args,
    ]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Letter[];
  };

  it("should list what a receiver refused, drop one, and retry the other into a running serve", async () => {
    const watched = join(tmp.path, "cfg");
    await mkdir(watched);
    for (const name of ["a", "b"]) {
      await writeFile(
        join(watched, `${name}.yaml`),
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata: {k: v}\n`,
      );
    }
    const config = join(tmp.path, "crwatch.yaml");
    await writeFile(
      config,
      [
        "store: {path: ./data}",
        "sources: [{name: cfg, type: files, paths: [./cfg]}]",
        `sinks: [{name: hook, type: webhook, url: "${receiver.url}"}]`,
        "",
      ].join("\n"),
    );
    const served = serve(["--config", config]);
    try {
      await waitUntilWatching(served);
      const letters = await waitFor(
        () => {
          const found = list();
          return found.length === 2 ? found : null;
        },
        20_000,
        "two dead letters",
      );
      assert.deepStrictEqual(
        letters.map((l) => [l.sink, l.state, l.error]),
        [
          ["hook", "dead", "HTTP 400"],
          ["hook", "dead", "HTTP 400"],
        ],
      );
      const text = cli(["dead-letters", "list", "--data-dir", join(tmp.path, "data")]);
      assert.match(text.stdout, /^#\d+ hook dead after 1 attempt\(s\) at .*: HTTP 400$/m);

      const [dropped, kept] = letters;
      const drop = cli([
        "dead-letters",
        "drop",
        "--data-dir",
        join(tmp.path, "data"),
        "--seq",
        String(dropped!.seq),
      ]);
      assert.equal(drop.status, 0, drop.stderr);
      assert.match(drop.stdout, /^1 dead letter\(s\) dropped/);
      assert.deepStrictEqual(
        list().map((l) => l.seq),
        [kept!.seq],
      );

      receiver.answer = () => ({ status: 200 });
      const retry = cli([
        "dead-letters",
        "retry",
        "--data-dir",
        join(tmp.path, "data"),
        "--sink",
        "hook",
      ]);
      assert.equal(retry.status, 0, retry.stderr);
      assert.match(retry.stdout, /^1 dead letter\(s\) marked for retry/);
      await waitFor(() => list().length === 0, 20_000, "the retried letter to be delivered");
      const deliveredSeqs = receiver.requests
        .filter((r) => r.status === 200)
        .map((r) => (JSON.parse(r.body) as { data: { seq: number } }).data.seq);
      assert.deepStrictEqual(deliveredSeqs, [kept!.seq]);
    } finally {
      assert.equal((await stop(served)).code, 0, served.stderr());
    }
  });

  it("should refuse bad usage with CRW_USAGE and exit code 2", () => {
    const dataDir = join(tmp.path, "data");
    const cases = [
      ["dead-letters", "explode", "--data-dir", dataDir],
      ["dead-letters", "list", "--data-dir", dataDir, "--seq", "x"],
      ["dead-letters", "list", "--data-dir", dataDir, "--output", "yaml"],
      ["dead-letters", "drop", "--data-dir", dataDir],
    ];
    for (const args of cases) {
      const r = cli(args);
      assert.equal(r.status, 2, args.join(" "));
      assert.match(r.stderr, /CRW_USAGE/, args.join(" "));
    }
  });

  it("should say there is no history in a directory that has none", () => {
    const r = cli(["dead-letters", "list", "--data-dir", join(tmp.path, "nowhere")]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /CRW_STORE_OPEN/);
  });
});
