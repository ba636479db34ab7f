import assert from "node:assert/strict";
import type { Stats } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../../test/helpers.js";
import { FileSelector, scan, watchTargets } from "./scan.js";

const include = ["**/*.yaml", "**/*.yml", "**/*.json"];
const dirStats = { isDirectory: () => true, isFile: () => false } as Stats;
const fileStats = { isDirectory: () => false, isFile: () => true } as Stats;

describe("FileSelector", () => {
  it("should let the watcher see the way to a root and what the walker would read", () => {
    const selector = new FileSelector({
      paths: ["/w/repo/manifests"],
      include,
      exclude: ["tmp/**"],
    });
    assert.equal(selector.watches("/w", dirStats), true, "an ancestor of the root");
    assert.equal(selector.watches("/w/repo/manifests", dirStats), true, "the root");
    assert.equal(selector.watches("/w/repo/src", dirStats), false, "a sibling of the root");
    assert.equal(selector.watches("/w/repo/manifests/a.yaml", fileStats), true);
    assert.equal(selector.watches("/w/repo/manifests/README.md", fileStats), false);
    assert.equal(selector.watches("/w/repo/manifests/.git", dirStats), false, "hidden");
    assert.equal(selector.watches("/w/repo/manifests/..data", dirStats), true, "volume swap link");
    assert.equal(selector.watches("/w/repo/manifests/tmp", dirStats), false, "excluded");
    assert.equal(selector.watches("/w/repo/manifests/maybe", undefined), true, "unknown type");
  });

  it("should limit a glob without ** to the depth it names", () => {
    const selector = new FileSelector({ paths: ["/w/m/*/*.yaml"], include, exclude: [] });
    const [root] = selector.roots;
    assert.ok(root);
    assert.equal(root.base, "/w/m");
    assert.equal(selector.entersDir(root, "a"), true);
    assert.equal(selector.entersDir(root, "a/b"), false);
    assert.equal(selector.selectsFile(root, "a/x.yaml"), true);
    assert.equal(selector.selectsFile(root, "x.yaml"), false);
  });
});

describe("scan", () => {
  it("should list selected files in path order with paths relative to their root", async () => {
    const dir = await tempDir();
    try {
      await mkdir(join(dir.path, "b", "c"), { recursive: true });
      await writeFile(join(dir.path, "z.yaml"), "a: 1\n");
      await writeFile(join(dir.path, "b", "c", "y.json"), "{}");
      await writeFile(join(dir.path, "b", "x.txt"), "");
      await symlink(join(dir.path, "b"), join(dir.path, "link-to-b"), "dir");
      const result = await scan(new FileSelector({ paths: [dir.path], include, exclude: [] }));
      assert.deepEqual(
        result.files.map((f) => f.relPath),
        ["b/c/y.json", "z.yaml"],
        "a second way into b adds nothing",
      );
      assert.deepEqual(result.problems, []);
    } finally {
      await dir.cleanup();
    }
  });

  it("should report a missing root and keep it", async () => {
    const dir = await tempDir();
    try {
      const missing = join(dir.path, "nope", "deeper");
      const selector = new FileSelector({ paths: [missing], include, exclude: [] });
      const result = await scan(selector);
      assert.deepEqual(result.missingRoots, [missing]);
      assert.deepEqual(result.unlisted, [missing]);
      assert.deepEqual(
        result.problems.map((p) => [p.code, p.location.path]),
        [["CRW_PATH_MISSING", missing]],
      );
      assert.deepEqual(await watchTargets(selector), [dir.path]);
    } finally {
      await dir.cleanup();
    }
  });

  it("should report a link that resolves to itself as a loop", async () => {
    const dir = await tempDir();
    try {
      await symlink(join(dir.path, "self.yaml"), join(dir.path, "self.yaml"));
      const result = await scan(new FileSelector({ paths: [dir.path], include, exclude: [] }));
      assert.deepEqual(
        result.problems.map((p) => [p.code, p.location.path]),
        [["CRW_SYMLINK_LOOP", join(dir.path, "self.yaml")]],
      );
    } finally {
      await dir.cleanup();
    }
  });
});
