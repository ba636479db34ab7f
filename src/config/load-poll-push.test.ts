import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../../test/helpers.js";
import { CrwatchError } from "../model/errors.js";
import { loadConfig } from "./load.js";

describe("config: http and webhook sources", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir();
  });
  after(async () => dir.cleanup());

  async function load(text: string, env: NodeJS.ProcessEnv = {}) {
    const path = join(dir.path, "crwatch.yaml");
    await writeFile(path, text);
    return loadConfig({ configPath: path, env });
  }

  async function rejects(text: string, pattern: RegExp) {
    await assert.rejects(load(text), (err: unknown) => {
      assert.ok(err instanceof CrwatchError);
      assert.equal(err.code, "CRW_CONFIG_INVALID");
      assert.match(err.message, pattern);
      return true;
    });
  }

  it("should load the issue's example, with ${VAR} credentials and TLS paths resolved", async () => {
    const config = await load(
      [
        "sources:",
        "  - name: kong-prod",
        "    type: http",
        "    preset: kong",
        "    url: https://kong-admin.internal:8001",
        '    headers: { Kong-Admin-Token: "${KONG_ADMIN_TOKEN}" }',
        "    interval: 30s",
        "    tls: { ca: ./ca.pem }",
        "  - name: pushes",
        "    type: webhook",
        "    listen: 127.0.0.1:7073",
        '    secret: "${PUSH_SECRET}"',
        "",
      ].join("\n"),
      { KONG_ADMIN_TOKEN: "t0ken", PUSH_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
    );
    const [kong, pushes] = config.sources as unknown as Record<string, unknown>[];
    assert.deepStrictEqual(kong!.headers, { "Kong-Admin-Token": "t0ken" });
    assert.deepStrictEqual(kong!.tls, { ca: join(dir.path, "ca.pem") });
    assert.equal(pushes!.secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  });

  it("should refuse an unknown preset, a bad interval, a bad listen address and a bad secret", async () => {
    const http = (extra: string) =>
      `sources:\n  - { name: k, type: http, url: "http://k:8001", ${extra} }\n`;
    await rejects(http("preset: nginx"), /sources\[0\]\.preset must be one of/);
    await rejects(
      http("preset: kong, interval: 30 seconds"),
      /sources\[0\]\.interval must match pattern/,
    );
    await rejects(
      http("preset: generic"),
      /crwatch.yaml:2: sources\[0\] must have required property 'generic'/,
    );
    await rejects(
      http("preset: kong, insecure: true"),
      /crwatch.yaml:2: sources\[0\]\.insecure is not a known setting/,
    );
    const hook = (extra: string) => `sources:\n  - { name: w, type: webhook, ${extra} }\n`;
    await rejects(
      hook('listen: "7073", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
      /listen must match pattern/,
    );
    await rejects(hook('listen: ":7073", secret: "not base64!"'), /secret must match pattern/);
  });
});
