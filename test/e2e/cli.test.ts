import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { parseAllDocuments } from "yaml";
import { cliPath, repoRoot, tempDir } from "../helpers.js";
import { cli, serve, stop, waitUntilWatching } from "./process.js";

describe("crwatch history, show, verify and diff", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let data: string;
  let examples: string;

  before(async () => {
    tmp = await tempDir("crwatch-cli-");
    examples = join(tmp.path, "examples");
    data = join(tmp.path, "data");
    await cp(join(repoRoot, "examples"), examples, { recursive: true });
    const served = serve(["--watch", examples, "--data-dir", data]);
    await waitUntilWatching(served);
    assert.equal((await stop(served)).code, 0);
  });
  after(async () => tmp.cleanup());

  it("should print history as JSON lines with the contracted fields", () => {
    const r = cli(["history", "--data-dir", data, "--output", "json"]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.ok(lines.length >= 20, `only ${lines.length} changes`);
    for (const c of lines) {
      for (const key of ["seq", "type", "ref", "revision", "observedAt", "patch", "summary"])
        assert.ok(key in c, key);
      assert.deepStrictEqual(Object.keys(c.ref).sort(), [
        "group",
        "kind",
        "name",
        "namespace",
        "source",
      ]);
      assert.ok(Array.isArray(c.patch) && Array.isArray(c.summary));
    }
    const kinds = new Set(lines.map((c) => c.ref.kind));
    for (const kind of [
      "HTTPRoute",
      "Gateway",
      "SecurityPolicy",
      "KongPlugin",
      "ApisixRoute",
      "AIGatewayRoute",
      "Plugin", // decK entities, one resource each
      "Model", // LiteLLM model_list entries
    ]) {
      assert.ok(kinds.has(kind), `examples hold a ${kind}`);
    }
  });

  it("should never print a secret value from the examples", async () => {
    const all = cli(["history", "--data-dir", data, "--output", "json"]).stdout;
    const secretFile = await readFile(
      join(examples, "envoy-gateway", "api-keys-secret.yaml"),
      "utf8",
    );
    const values = parseAllDocuments(secretFile).flatMap((doc) => {
      const secret = doc.toJS() as {
        data?: Record<string, string>;
        stringData?: Record<string, string>;
      };
      return [...Object.values(secret.data ?? {}), ...Object.values(secret.stringData ?? {})];
    });
    assert.ok(values.length >= 3, `found ${values.length} secret values`);
    for (const v of values) assert.ok(!all.includes(v as string), `secret ${v} leaked`);
    assert.match(all, /<masked:[0-9a-f]{16}>/);
  });

  it("should filter by ref text, seq and limit", () => {
    const r = cli([
      "history",
      "--data-dir",
      data,
      "--output",
      "json",
      "--ref",
      "httproute",
      "--limit",
      "1",
      "--since",
      "1",
    ]);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 1);
    assert.equal(lines[0].ref.kind, "HTTPRoute");
    assert.ok(lines[0].seq > 1);
  });

  it("should report the log's end, source health and each sink's lag", () => {
    const r = cli(["status", "--data-dir", data, "--output", "json"]);
    assert.equal(r.status, 0, r.stderr);
    const status = JSON.parse(r.stdout);
    assert.ok(status.lastSeq >= 20);
    assert.deepStrictEqual(
      status.sources.map((s: { source: string; status: string }) => [s.source, s.status]),
      [["files", "stopped"]],
    );
    assert.deepStrictEqual(
      status.consumers.map((c: { consumer: string; lag: number }) => [c.consumer, c.lag]),
      [["sink:console", 0]],
    );
    assert.equal(status.deadLetters, 0);
  });

  it("should show one change and fail clearly on an unknown seq", () => {
    const ok = cli(["show", "1", "--data-dir", data]);
    assert.equal(ok.status, 0);
    assert.match(ok.stdout, /^#1 ADDED/);
    const missing = cli(["show", "99999", "--data-dir", data]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /CRW_STORE_NOT_FOUND: no change with seq 99999/);
  });

  it("should fail clearly on a data dir without history", () => {
    const r = cli(["history", "--data-dir", join(tmp.path, "nothing-here")]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /CRW_STORE_OPEN: no crwatch history/);
  });

  it("should report the first edited row when the log is tampered with", async () => {
    assert.equal(cli(["verify", "--data-dir", data]).status, 0);
    const copy = join(tmp.path, "tampered");
    await mkdir(copy);
    await cp(data, copy, { recursive: true });
    const db = new Database(join(copy, "crwatch.db"));
    db.prepare("UPDATE changes SET summary = '[\"weight: 0 → 100\"]' WHERE seq = 5").run();
    db.close();
    const r = cli(["verify", "--data-dir", copy]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /broken at seq 5/);
  });

  it("should diff two directories offline with the same change objects", async () => {
    const after = join(tmp.path, "after");
    await cp(examples, after, { recursive: true });
    const routes = join(after, "gateway-api", "httproutes.yaml");
    await writeFile(routes, (await readFile(routes, "utf8")).replace(/weight: 90/, "weight: 0"));
    const r = cli(["diff", examples, after, "--output", "json"]);
    assert.equal(r.status, 0, r.stderr);
    const changes = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(changes.length, 1);
    assert.equal(changes[0].type, "MODIFIED");
    assert.equal(changes[0].ref.name, "storefront");
    assert.ok(changes[0].summary.some((s: string) => s.endsWith("weight: 90 → 0")));
    assert.ok(!("seq" in changes[0]));
  });

  it("should mask a key named in the config's ingest.secretKeys when diff is given --config", async () => {
    const doc = (token: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plugin-settings\ndata:\n  routingHint: eu\n  upstreamCookieSeed: ${token}\n`;
    const before = join(tmp.path, "seed-before.yaml");
    const after = join(tmp.path, "seed-after.yaml");
    const config = join(tmp.path, "seed-crwatch.yaml");
    await writeFile(before, doc("seed-BEFORE-8f3a9c"));
    await writeFile(after, doc("seed-AFTER-b71e04"));
    await writeFile(config, "ingest:\n  secretKeys: [upstreamCookieSeed]\n");
    for (const output of ["text", "json"]) {
      const masked = cli(["diff", before, after, "--config", config, "--output", output]);
      assert.equal(masked.status, 0, masked.stderr);
      assert.match(masked.stdout, /upstreamCookieSeed/, "the change still shows");
      assert.doesNotMatch(masked.stdout, /seed-(BEFORE|AFTER)/, `${output} output leaks the value`);
    }
    // Without the config the key is not known to be secret: the same diff shows the values,
    // which proves the masking above came from --config.
    const plain = cli(["diff", before, after, "--output", "json"]);
    assert.match(plain.stdout, /seed-AFTER-b71e04/);
  });

  it("should end quietly when the reader of its output goes away (diff | head)", async () => {
    const many = join(tmp.path, "many");
    const empty = join(tmp.path, "empty-side");
    await mkdir(many);
    await mkdir(empty);
    const docs = Array.from(
      { length: 3000 },
      (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\ndata:\n  k: "${i}"\n`,
    );
    await writeFile(join(many, "all.yaml"), docs.join("---\n"));
    const r = spawnSync(
      "sh",
      ["-c", `"${process.execPath}" "${cliPath}" diff "${empty}" "${many}" | head -1`],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^ADDED/);
    assert.equal(r.stderr, "", "no stack trace on a closed pipe");
  });

  it("should refuse an unknown command like any usage error: CRW_USAGE and exit 2", () => {
    const r = cli(["frobnicate"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^crwatch: CRW_USAGE: unknown command 'frobnicate'/);
    const help = cli(["--help"]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Exit codes:[\s\S]*Environment:[\s\S]*CRWATCH_MASK_KEY/);
  });

  it("should show an unreadable AFTER file as an ERROR, not as deletions", async () => {
    const before = join(tmp.path, "before.yaml");
    const after = join(tmp.path, "after.yaml");
    await writeFile(
      before,
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: '1'\n",
    );
    await writeFile(
      after,
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: [2\n",
    );
    const r = cli(["diff", before, after, "--output", "json"]);
    // The ERROR is printed, and the exit code says the diff is incomplete (a CI gate must not pass).
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /CRW_DIFF_INPUT/);
    const changes = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepStrictEqual(
      changes.map((c) => [c.type, c.notice?.code]),
      [["ERROR", "CRW_YAML_SYNTAX"]],
    );
  });

  it("should refuse a config with an unknown key or a wrong type, naming line and field", async () => {
    const config = join(tmp.path, "bad.yaml");
    await writeFile(
      config,
      "sources:\n  - name: local\n    type: files\n    paths: [./x]\n    debounceMs: soon\n    colour: red\n",
    );
    const r = cli(["serve", "--config", config, "--data-dir", join(tmp.path, "d2")]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /CRW_CONFIG_INVALID/);
    assert.match(r.stderr, /bad\.yaml:5: sources\[0\]\.debounceMs must be integer/);
    assert.match(r.stderr, /bad\.yaml:6: sources\[0\]\.colour is not a known setting/);
  });
});
