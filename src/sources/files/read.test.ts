import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../../../test/helpers.js";
import { readResourceFile } from "./read.js";

describe("readResourceFile", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir();
  });
  after(() => dir.cleanup());

  const read = (name: string, maxBytes = 1024) =>
    readResourceFile({ source: "local", absPath: join(dir.path, name), relPath: name, maxBytes });

  it("should read a file into items with its content hash", async () => {
    await writeFile(
      join(dir.path, "ok.yaml"),
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
    );
    const outcome = await read("ok.yaml");
    assert.equal(outcome.status, "read");
    assert.ok(outcome.status === "read");
    assert.deepEqual(
      outcome.items.map((i) => i.ref.name),
      ["s"],
    );
    assert.match(outcome.contentHash, /^[0-9a-f]{64}$/);
  });

  it("should call a file deleted after the listing gone, with no problem", async () => {
    assert.deepEqual(await read("never-there.yaml"), { status: "gone" });
  });

  it("should refuse a file over the cap from its size alone", async () => {
    await writeFile(join(dir.path, "big.yaml"), `a: "${"x".repeat(100)}"\n`);
    const outcome = await read("big.yaml", 10);
    assert.ok(outcome.status === "unreadable");
    assert.equal(outcome.problems[0]?.code, "CRW_FILE_TOO_LARGE");
    assert.match(outcome.problems[0]?.fingerprint ?? "", /:CRW_FILE_TOO_LARGE$/);
  });

  it("should report other read errors with their errno", async () => {
    await mkdir(join(dir.path, "a-dir.yaml"));
    const outcome = await read("a-dir.yaml", 1 << 20);
    assert.ok(outcome.status === "unreadable");
    assert.equal(outcome.problems[0]?.code, "CRW_FILE_UNREADABLE");
    assert.match(outcome.problems[0]?.message ?? "", /EISDIR/);
  });

  it("should keep a parse problem as unreadable so nothing looks deleted", async () => {
    await writeFile(join(dir.path, "bad.yaml"), "a: [\n");
    const outcome = await read("bad.yaml");
    assert.ok(outcome.status === "unreadable");
    assert.equal(outcome.problems[0]?.code, "CRW_YAML_SYNTAX");
  });
});
