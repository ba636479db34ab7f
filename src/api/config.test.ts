import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../../test/helpers.js";
import { loadConfig } from "../config/load.js";
import { CrwatchError } from "../model/errors.js";
import { isLoopback, parseListen } from "./config.js";

describe("api config", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let n = 0;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => dir.cleanup());

  async function load(api: string, env: NodeJS.ProcessEnv = {}) {
    const configPath = join(dir.path, `c${n++}.yaml`);
    await writeFile(configPath, `sources: []\napi:\n${api}\n`);
    return loadConfig({ configPath, env });
  }

  async function refused(api: string, pattern: RegExp) {
    await assert.rejects(load(api), (err: unknown) => {
      assert.ok(err instanceof CrwatchError);
      assert.equal(err.code, "CRW_CONFIG_INVALID");
      assert.match(err.message, pattern);
      return true;
    });
  }

  it("should fill in the defaults and read a token from the environment", async () => {
    const config = await load(
      "  tokens:\n    - { name: ops, role: operator, token: '${OPS_TOKEN}' }",
      { OPS_TOKEN: "a-long-enough-token-value" },
    );
    assert.deepEqual(config.api, {
      listen: "127.0.0.1:7070",
      auth: "tokens",
      tokens: [{ name: "ops", role: "operator", token: "a-long-enough-token-value" }],
      maxBodyBytes: 65_536,
      watch: { maxBuffered: 1000, heartbeatMs: 15_000 },
    });
  });

  it("should leave the API off without an api block", async () => {
    const configPath = join(dir.path, "none.yaml");
    await writeFile(configPath, "sources: []\n");
    assert.equal((await loadConfig({ configPath, env: {} })).api, undefined);
  });

  it("should take a replica's own address from apiListen, checked like api.listen", async () => {
    const configPath = join(dir.path, "replica.yaml");
    await writeFile(configPath, "sources: []\napi:\n  listen: 127.0.0.1:7070\n  auth: none\n");
    const config = await loadConfig({ configPath, env: {}, apiListen: "127.0.0.1:7071" });
    assert.equal(config.api?.listen, "127.0.0.1:7071");
    await assert.rejects(loadConfig({ configPath, env: {}, apiListen: "0.0.0.0:7071" }), {
      code: "CRW_CONFIG_INVALID",
    });
    const bare = join(dir.path, "bare.yaml");
    await writeFile(bare, "sources: []\n");
    await assert.rejects(loadConfig({ configPath: bare, env: {}, apiListen: "127.0.0.1:0" }), {
      code: "CRW_USAGE",
    });
  });

  it("should refuse auth none on an address that is not loopback", async () => {
    await refused("  listen: 0.0.0.0:7070\n  auth: none", /only on a loopback address/);
    const ok = await load("  listen: '[::1]:0'\n  auth: none");
    assert.equal(ok.api?.auth, "none");
  });

  it("should refuse auth tokens without any token, and a token with neither or both forms", async () => {
    await refused("  listen: 127.0.0.1:7070", /api.tokens is empty/);
    await refused("  tokens:\n    - { name: a, role: admin }", /exactly one of sha256 or token/);
  });

  it("should refuse an unknown role, a bad digest and a bad listen address", async () => {
    await refused(
      "  tokens:\n    - { name: a, role: root, token: 0123456789abcdef0 }",
      /role must be one of/,
    );
    await refused("  tokens:\n    - { name: a, role: admin, sha256: abc }", /sha256/);
    await refused("  listen: localhost\n  auth: none", /api.listen must be host:port/);
  });

  it("should tell loopback addresses apart", () => {
    assert.deepEqual(parseListen("[::1]:7070"), { host: "::1", port: 7070 });
    assert.ok(isLoopback("127.0.0.2") && isLoopback("localhost") && isLoopback("::1"));
    assert.ok(!isLoopback("0.0.0.0") && !isLoopback("10.0.0.1") && !isLoopback("::"));
  });
});
