import assert from "node:assert/strict";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Change } from "../../src/model/change.js";
import { tempDir } from "../helpers.js";
import {
  cli,
  readHistory,
  type Served,
  serve,
  stop,
  waitForChanges,
  waitUntilWatching,
} from "./process.js";

function route(name: string, weight: number): string {
  return `# the ${name} route
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: shop
spec:
  rules:
    - backendRefs:
        - name: v1
          weight: ${weight}
        - name: v2
          weight: ${100 - weight}
`;
}

const byName = (name: string, type?: string) => (c: Change) =>
  c.ref.name === name && (!type || c.type === type);

describe("crwatch serve on a real directory and SQLite file", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let watched: string;
  let data: string;
  let served: Served;

  before(async () => {
    tmp = await tempDir("crwatch-e2e-");
    watched = join(tmp.path, "cfg");
    data = join(tmp.path, "data");
    await mkdir(watched);
    await writeFile(join(watched, "a.yaml"), route("a", 90));
    served = serve(["--watch", watched, "--data-dir", data]);
    await waitUntilWatching(served);
  });
  after(async () => {
    if (served.child.exitCode === null) await stop(served);
    await tmp.cleanup();
  });

  it("should record the initial file as ADDED and print it", async () => {
    const [added] = await waitForChanges(data, byName("a", "ADDED"));
    assert.equal(added?.ref.kind, "HTTPRoute");
    assert.equal(added?.ref.source, "files");
    assert.match(served.stdout(), /ADDED\s+files:HTTPRoute\.gateway\.networking\.k8s\.io shop\/a/);
  });

  it("should refuse a second serve on the same data directory", () => {
    const second = cli(["serve", "--watch", watched, "--data-dir", data]);
    assert.equal(second.status, 2);
    assert.match(
      second.stderr,
      /CRW_STORE_LOCKED: another crwatch serve \(pid \d+\) is writing to/,
    );
  });

  it("should record an edit as MODIFIED with a readable summary", async () => {
    await writeFile(join(watched, "a.yaml"), route("a", 0));
    const [modified] = await waitForChanges(data, byName("a", "MODIFIED"));
    assert.ok(
      modified?.summary.includes("spec.rules[0].backendRefs[0].weight: 90 → 0"),
      modified?.summary.join("\n"),
    );
  });

  it("should record nothing for a rewrite that changes only formatting, or for a rename", async () => {
    const before = (await readHistory(data)).length;
    const reformatted = (await readFile(join(watched, "a.yaml"), "utf8")).replace(
      "# the a route",
      "# reformatted\n",
    );
    await writeFile(join(watched, "a.yaml"), reformatted);
    await rename(join(watched, "a.yaml"), join(watched, "renamed.yaml"));
    // A marker file proves the watcher handled the events above before we count.
    await writeFile(join(watched, "marker.yaml"), route("marker", 1));
    await waitForChanges(data, byName("marker", "ADDED"));
    const after = await readHistory(data);
    assert.deepStrictEqual(
      after.slice(before).map((c) => `${c.type} ${c.ref.name}`),
      ["ADDED marker"],
    );
  });

  it("should record a malformed file once as ERROR with its line, keep the last good state, and resume when fixed", async () => {
    await writeFile(join(watched, "renamed.yaml"), `${route("a", 0)}  bad: [unclosed\n`);
    const [error] = await waitForChanges(
      data,
      (c) => c.type === "ERROR" && c.location?.path.endsWith("renamed.yaml") === true,
    );
    assert.equal(error?.notice?.code, "CRW_YAML_SYNTAX");
    assert.ok((error?.location?.line ?? 0) >= 14, `line ${error?.location?.line}`);
    await writeFile(join(watched, "renamed.yaml"), route("a", 5));
    await waitForChanges(data, byName("a", "MODIFIED"), 2);
    const history = await readHistory(data);
    assert.equal(
      history.filter(byName("a", "DELETED")).length,
      0,
      "a parse error must not look like a deletion",
    );
    assert.equal(history.filter((c) => c.type === "ERROR").length, 1);
  });

  it("should record a deleted file as DELETED", async () => {
    await rm(join(watched, "marker.yaml"));
    await waitForChanges(data, byName("marker", "DELETED"));
  });

  it("should flush a pending edit on SIGTERM and exit 0, then reconcile offline edits once on restart", async () => {
    await writeFile(join(watched, "late.yaml"), route("late", 7));
    const exit = await stop(served, "SIGTERM");
    assert.equal(exit.code, 0, served.stderr());
    const history = await readHistory(data);
    assert.equal(
      history.filter(byName("late", "ADDED")).length,
      1,
      "the edit made just before SIGTERM is committed",
    );

    // While stopped: modify, add, delete.
    await writeFile(join(watched, "renamed.yaml"), route("a", 60));
    await writeFile(join(watched, "offline.yaml"), route("offline", 3));
    await rm(join(watched, "late.yaml"));
    const seqBefore = history.at(-1)?.seq ?? 0;

    for (let run = 0; run < 2; run++) {
      served = serve(["--watch", watched, "--data-dir", data]);
      await waitUntilWatching(served);
      assert.equal((await stop(served)).code, 0);
    }
    const offline = (await readHistory(data))
      .filter((c) => c.seq > seqBefore)
      .map((c) => `${c.type} ${c.ref.name}`);
    assert.deepStrictEqual(offline.sort(), ["ADDED offline", "DELETED late", "MODIFIED a"]);
    assert.equal(cli(["verify", "--data-dir", data]).status, 0);
    // Each restart wrote down the interval crwatch could not see, for its source.
    const downtime = (await readHistory(data, true)).filter(
      (c) => c.seq > seqBefore && c.notice?.code === "CRW_NOT_RUNNING",
    );
    assert.equal(downtime.length, 2);
    assert.equal(downtime[0]?.ref.source, "files");
    assert.match(downtime[0]?.notice?.message ?? "", /crwatch was not running from \S+Z to \S+Z/);
  });
});
