import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir, waitFor } from "../helpers.js";
import { cli, readHistory, serve, stop, waitUntilWatching } from "./process.js";

const FILES = 300;

function policy(i: number, limit: number): string {
  return `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata:
  name: p${i}
  namespace: shop
spec:
  rateLimit:
    type: Local
    local:
      rules:
        - limit: { requests: ${limit}, unit: Minute }
`;
}

describe("kill -9 in the middle of a burst of writes", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir("crwatch-crash-");
  });
  after(async () => tmp.cleanup());

  it("should lose no committed change, keep the chain valid, and record the rest once after restart", async () => {
    const watched = join(tmp.path, "cfg");
    const data = join(tmp.path, "data");
    await mkdir(watched);
    let served = serve(["--watch", watched, "--data-dir", data]);
    await waitUntilWatching(served);

    // Write until some changes are committed, then kill without warning mid-burst.
    let written = 0;
    const writer = (async () => {
      for (; written < FILES; written++)
        await writeFile(join(watched, `p${written}.yaml`), policy(written, 100));
    })();
    await waitFor(
      async () => (await readHistory(data)).length >= 20,
      20_000,
      "a first part of the burst to commit",
    );
    served.child.kill("SIGKILL");
    await served.exited;
    await writer;
    const committed = await readHistory(data);
    assert.ok(committed.length > 0);

    const verify = cli(["verify", "--data-dir", data]);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);

    served = serve(["--watch", watched, "--data-dir", data]);
    await waitUntilWatching(served);
    const exit = await stop(served);
    assert.equal(exit.code, 0, `${JSON.stringify(exit)}\n${served.stderr()}`);
    const history = await readHistory(data);
    // Everything committed before the kill is still there, unchanged.
    assert.deepStrictEqual(
      history.slice(0, committed.length).map((c) => c.hash),
      committed.map((c) => c.hash),
    );
    const added = history.filter((c) => c.type === "ADDED").map((c) => c.ref.name);
    assert.equal(added.length, FILES, "every file is recorded");
    assert.equal(new Set(added).size, FILES, "and none twice");
    assert.equal(history.filter((c) => c.type !== "ADDED").length, 0);
    assert.equal(cli(["verify", "--data-dir", data]).status, 0);
  });
});
