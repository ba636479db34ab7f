import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir, waitFor } from "../helpers.js";
import { isDowntimeGap, readHistory, serve, stop, waitUntilWatching } from "./process.js";

describe("delivery across a stuck sink and a restart", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir("crwatch-delivery-");
  });
  after(async () => tmp.cleanup());

  it("should exit at once on a second signal, then deliver everything after restart", async () => {
    const watched = join(tmp.path, "cfg");
    const data = join(tmp.path, "data");
    const out = join(tmp.path, "changes.jsonl");
    await mkdir(watched);
    for (const name of ["a", "b", "c"]) {
      await writeFile(
        join(watched, `${name}.yaml`),
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata: {k: v}\n`,
      );
    }
    const config = join(tmp.path, "crwatch.yaml");
    await writeFile(
      config,
      `store: {path: ./data}\nsources: [{name: cfg, type: files, paths: [./cfg]}]\nsinks: [{name: audit, type: jsonl, path: ./changes.jsonl}]\n`,
    );
    // A FIFO with no reader: opening it for writing blocks, so the sink never finishes.
    execFileSync("mkfifo", [out]);

    let served = serve(["--config", config]);
    await waitUntilWatching(served);
    await waitFor(
      async () => (await readHistory(data)).length === 3,
      10_000,
      "3 committed changes",
    );
    served.child.kill("SIGTERM");
    await waitFor(
      () => served.stderr().includes("stopping"),
      10_000,
      "the first signal to be seen",
    );
    const exit = await stop(served, "SIGTERM");
    assert.equal(exit.signal, "SIGTERM", served.stderr());
    assert.match(served.stderr(), /again: exiting without flushing/);

    // The sink's cursor never moved, so a restart delivers all three, in order.
    await rm(out);
    served = serve(["--config", config]);
    await waitUntilWatching(served);
    assert.equal((await stop(served)).code, 0);
    const lines = (await readFile(out, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((c) => !isDowntimeGap(c));
    assert.deepStrictEqual(
      lines.map((c) => c.seq),
      [1, 2, 3],
    );
    assert.deepStrictEqual(lines.map((c) => c.ref.name).sort(), ["a", "b", "c"]);
  });

  it("should give up on a stuck sink after the shutdown grace period, naming it, and lose nothing", async () => {
    const dir = join(tmp.path, "grace");
    const watched = join(dir, "cfg");
    await mkdir(watched, { recursive: true });
    await writeFile(
      join(watched, "a.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    const config = join(dir, "crwatch.yaml");
    await writeFile(
      config,
      "store: {path: ./data}\nshutdownGraceMs: 1000\nsources: [{name: cfg, type: files, paths: [./cfg]}]\nsinks: [{name: stuck-fifo, type: jsonl, path: ./out.fifo}]\n",
    );
    execFileSync("mkfifo", [join(dir, "out.fifo")]);
    let served = serve(["--config", config]);
    await waitUntilWatching(served);
    await waitFor(
      async () => (await readHistory(join(dir, "data"))).length === 1,
      10_000,
      "1 change",
    );
    served.child.kill("SIGTERM"); // one signal only
    const exit = await served.exited;
    assert.equal(exit.signal, "SIGTERM", served.stderr());
    assert.match(served.stderr(), /stuck-fifo/);
    assert.match(served.stderr(), /shutdown grace period/);
    // The cursor stayed: once the destination works, the next start delivers the change.
    await rm(join(dir, "out.fifo"));
    served = serve(["--config", config]);
    await waitUntilWatching(served);
    assert.equal((await stop(served)).code, 0);
    const lines = (await readFile(join(dir, "out.fifo"), "utf8")).trim().split("\n");
    assert.deepEqual(
      lines
        .map((l) => JSON.parse(l))
        .filter((c) => !isDowntimeGap(c))
        .map((c) => c.ref.name),
      ["a"],
    );
  });
});
