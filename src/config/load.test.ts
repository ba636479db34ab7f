import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot, tempDir } from "../../test/helpers.js";
import { CrwatchError } from "../model/errors.js";
import { loadConfig } from "./load.js";

describe("loadConfig", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir();
  });
  after(async () => dir.cleanup());

  async function configFile(text: string): Promise<string> {
    const path = join(dir.path, `c${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(path, text);
    return path;
  }

  async function rejects(text: string, code: string, pattern: RegExp, env: NodeJS.ProcessEnv = {}) {
    const configPath = await configFile(text);
    await assert.rejects(loadConfig({ configPath, env }), (err: unknown) => {
      assert.ok(err instanceof CrwatchError);
      assert.equal(err.code, code);
      assert.match(err.message, pattern);
      return true;
    });
  }

  it("should load the repository's demo config with defaults, paths resolved against the file", async () => {
    const config = await loadConfig({ configPath: join(repoRoot, "crwatch.yaml"), env: {} });
    assert.equal(config.store.path, join(repoRoot, ".crwatch"));
    assert.deepStrictEqual((config.sources[0] as { paths?: string[] } | undefined)?.paths, [
      join(repoRoot, "examples"),
    ]);
    assert.deepStrictEqual(config.sinks, [{ name: "console", type: "console" }]);
    assert.equal(config.delivery.maxAttempts, 10);
  });

  it("should interpolate ${VAR}, ${VAR:-default} and $$", async () => {
    const path = await configFile(
      "store: {path: '${DATA:-./d}'}\nmaskKey: '${KEY}'\nsources: [{name: s, type: files, paths: ['./a$$b']}]\n",
    );
    const config = await loadConfig({ configPath: path, env: { KEY: "0123456789abcdef-key" } });
    assert.equal(config.maskKey, "0123456789abcdef-key");
    assert.equal(config.store.path, join(dir.path, "d"));
    assert.deepStrictEqual((config.sources[0] as { paths?: string[] } | undefined)?.paths, [
      join(dir.path, "a$b"),
    ]);
  });

  it("should name the line and field of an unset variable", async () => {
    await rejects(
      "sinks:\n  - name: out\n    type: jsonl\n    path: ${NOPE}\n",
      "CRW_CONFIG_ENV",
      /:4: sinks\[0\]\.path refers to \$\{NOPE\}/,
    );
  });

  it("should report a YAML syntax error with its line", async () => {
    await rejects("sources:\n  - name: a\n   type: files\n", "CRW_CONFIG_PARSE", /:3:\d+: /);
  });

  it("should refuse unknown keys, wrong types and unknown source types with line and field", async () => {
    await rejects(
      "store: {path: x, size: 3}\n",
      "CRW_CONFIG_INVALID",
      /:1: store\.size is not a known setting/,
    );
    await rejects(
      "sources:\n  - name: a\n    type: files\n    paths: []\n",
      "CRW_CONFIG_INVALID",
      /:4: sources\[0\]\.paths must NOT have fewer than 1 items/,
    );
    await rejects(
      "sources:\n  - name: a\n    type: kafka\n",
      "CRW_CONFIG_INVALID",
      /:2: sources\[0\] has an unknown or missing `type`/,
    );
    await rejects(
      "sinks:\n  - {name: a, type: console, color: pink}\n",
      "CRW_CONFIG_INVALID",
      /sinks\[0\]\.color must be one of \["auto","always","never"\]/,
    );
  });

  it("should refuse two sources with one name", async () => {
    await rejects(
      "sources:\n  - {name: a, type: files, paths: [x]}\n  - {name: a, type: files, paths: [y]}\n",
      "CRW_CONFIG_INVALID",
      /two entries named "a"/,
    );
  });

  it("should build a files source from --watch without a config file", async () => {
    const config = await loadConfig({ watch: ["cfg"], dataDir: "data", cwd: dir.path, env: {} });
    assert.deepStrictEqual(config.sources, [
      { name: "files", type: "files", paths: [join(dir.path, "cfg")] },
    ]);
    assert.equal(config.store.path, join(dir.path, "data"));
  });

  it("should report a missing config file", async () => {
    await assert.rejects(
      loadConfig({ configPath: join(dir.path, "absent.yaml"), env: {} }),
      /CRW_CONFIG_NOT_FOUND|could not be read/,
    );
  });
});
