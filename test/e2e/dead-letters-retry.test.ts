import assert from "node:assert/strict";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir, waitFor } from "../helpers.js";
import { cli, isDowntimeGap, serve, stop, waitUntilWatching } from "./process.js";

const route = (name: string) =>
  `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: ${name}\n  namespace: shop\nspec:\n  hostnames: [${name}.example.com]\n`;

describe("crwatch dead-letters retry with a real sink", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let data: string;
  let config: string;
  let target: string;

  const letters = () => {
    const r = cli(["dead-letters", "list", "--data-dir", data, "--output", "json"]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .flatMap((l) => JSON.parse(l));
  };

  before(async () => {
    tmp = await tempDir("crwatch-dl-");
    data = join(tmp.path, "data");
    const watched = join(tmp.path, "watched");
    await mkdir(watched);
    await writeFile(join(watched, "a.yaml"), route("a"));
    await writeFile(join(watched, "b.yaml"), route("b"));
    // The sink's file is a directory: every write fails, so each change is dead-lettered.
    target = join(tmp.path, "out.jsonl");
    await mkdir(target);
    config = join(tmp.path, "crwatch.yaml");
    await writeFile(
      config,
      [
        `store: {path: ${data}}`,
        `sources: [{name: local, type: files, paths: [${watched}]}]`,
        "sinks:",
        `  - {name: audit, type: jsonl, path: ${target}, delivery: {maxAttempts: 2, initialDelayMs: 10}}`,
        "",
      ].join("\n"),
    );
    const served = serve(["--config", config]);
    await waitUntilWatching(served);
    await waitFor(() => letters().length === 2, 20_000, "two dead letters");
    assert.equal((await stop(served)).code, 0);
  });
  after(async () => tmp.cleanup());

  it("should list each dead letter with its error and attempts", () => {
    const listed = letters();
    assert.deepEqual(
      listed.map((l) => [l.consumer, l.seq, l.attempts, l.state]),
      [
        ["sink:audit", 1, 2, "dead"],
        ["sink:audit", 2, 2, "dead"],
      ],
    );
    assert.match(listed[0].error, /EISDIR|illegal operation on a directory/);
    const text = cli(["dead-letters", "list", "--data-dir", data]);
    assert.match(text.stdout, /^#1 audit dead after 2 attempt\(s\)/m);
  });

  it("should deliver a retried dead letter on the next start and remove it, and drop another", async () => {
    const [first, second] = letters();
    const retried = cli(["dead-letters", "retry", "--data-dir", data, "--seq", String(first.seq)]);
    assert.equal(retried.status, 0, retried.stderr);
    assert.match(retried.stdout, /1 dead letter\(s\) marked for retry/);
    assert.deepEqual(
      letters().map((l) => l.state),
      ["retry", "dead"],
    );
    await rm(target, { recursive: true }); // the destination works again
    const served = serve(["--config", config]);
    await waitUntilWatching(served);
    await waitFor(() => letters().length === 1, 20_000, "the retried letter delivered");
    assert.equal((await stop(served)).code, 0);
    const lines = (await readFile(target, "utf8")).trim().split("\n");
    assert.deepEqual(
      lines
        .map((l) => JSON.parse(l))
        .filter((c) => !isDowntimeGap(c))
        .map((c) => c.seq),
      [first.seq],
    );
    const dropped = cli(["dead-letters", "drop", "--data-dir", data, "--sink", "audit"]);
    assert.match(dropped.stdout, /1 dead letter\(s\) dropped/);
    assert.deepEqual(letters(), []);
    assert.equal(second.seq, 2);
  });
});
