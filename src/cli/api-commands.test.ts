import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { cliPath } from "../../test/helpers.js";
import { tokenDigest } from "../api/auth.js";
import { type ApiServer, startApiServer } from "../api/server.js";
import { edits, type Fixture, fixture, sampleChanges, TOKENS } from "../api/test-kit.js";
import type { Change } from "../model/change.js";

describe("crwatch tail", () => {
  let fx: Fixture;
  let server: ApiServer;
  before(async () => {
    fx = await fixture();
    server = await startApiServer(fx.deps);
  });
  after(async () => {
    await server.stop();
    await fx.cleanup();
  });

  it("should print the backlog after --since and then live changes, as JSON lines", async () => {
    await fx.commit(sampleChanges()); // 1-3
    const child = spawn(
      process.execPath,
      [
        cliPath,
        "tail",
        "--url",
        server.url,
        "--since",
        "1",
        "--output",
        "json",
        "--type",
        "ADDED,MODIFIED",
      ],
      { env: { ...process.env, CRWATCH_TOKEN: TOKENS.viewer }, stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      const lines = createInterface({ input: child.stdout });
      const seqs: number[] = [];
      for await (const line of lines) {
        seqs.push((JSON.parse(line) as Change).seq);
        if (seqs.length === 2) await fx.commit(edits("cart", 1, 1)); // 4, live
        if (seqs.length === 3) break;
      }
      assert.deepEqual(seqs, [2, 3, 4]);
    } finally {
      child.kill();
    }
  });

  it("should exit 2 with the API's code when the token is refused", async () => {
    const child = spawn(
      process.execPath,
      [cliPath, "tail", "--url", server.url, "--token", "wrong-token-0123456789"],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const code = await new Promise((resolve) => child.on("exit", resolve));
    assert.equal(code, 2);
    assert.match(stderr, /CRW_API_UNAUTHORIZED/);
  });
});

describe("crwatch tokens create", () => {
  it("should print a token once with the config entry holding only its sha256", async () => {
    const { execFile } = await import("node:child_process");
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [cliPath, "tokens", "create", "--role", "operator", "--name", "oncall"],
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    const token = /shown once; give it to oncall\): (crw_\S+)/.exec(out)?.[1] as string;
    assert.ok(token);
    const entry = /- \{ name: oncall, role: operator, sha256: ([0-9a-f]{64}) \}/.exec(out)?.[1];
    assert.equal(entry, tokenDigest(token));
    assert.equal(out.split(token).length, 2, "the token appears once");
  });

  it("should refuse an unknown role with exit 2", async () => {
    const child = spawn(
      process.execPath,
      [cliPath, "tokens", "create", "--role", "root", "--name", "x"],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    assert.equal(await new Promise((resolve) => child.on("exit", resolve)), 2);
    assert.match(stderr, /CRW_USAGE: --role must be one of viewer, operator, admin/);
  });
});
