import assert from "node:assert/strict";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { tempDir } from "../../../test/helpers.js";
import { lookAt } from "./look-at.js";
import { FileSelector, scan } from "./scan.js";

const include = ["**/*.yaml", "**/*.yml", "**/*.json"];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function tree(): Promise<{ dir: string; selector: FileSelector }> {
  const { path, cleanup } = await tempDir("crwatch-look-at-");
  cleanups.push(cleanup);
  await mkdir(join(path, "sub"));
  await writeFile(join(path, "b.yaml"), "b: 1\n");
  await writeFile(join(path, "sub", "c.yaml"), "c: 1\n");
  return { dir: path, selector: new FileSelector({ paths: [path], include, exclude: [] }) };
}

const paths = (r: { files: { absPath: string }[] } | undefined) => r?.files.map((f) => f.absPath);

describe("lookAt", () => {
  it("should give what a walk gives for files made, changed and removed", async () => {
    const { dir, selector } = await tree();
    const last = await scan(selector);
    await writeFile(join(dir, "a.yaml"), "a: 1\n");
    await writeFile(join(dir, "b.yaml"), "b: 2, longer\n");
    await rm(join(dir, "sub", "c.yaml"));
    await writeFile(join(dir, "notes.txt"), "not selected\n");
    const named = ["a.yaml", "b.yaml", "sub/c.yaml", "notes.txt", "gone.yaml~"].map((p) =>
      join(dir, p),
    );
    const looked = await lookAt(selector, last, named);
    const walked = await scan(selector);
    assert.deepEqual(paths(looked), paths(walked));
    assert.deepEqual(
      looked?.files.map((f) => [f.relPath, f.signature.size]),
      walked.files.map((f) => [f.relPath, f.signature.size]),
    );
  });

  it("should ask for a walk when a directory, a symlink or a removed directory is named", async () => {
    const { dir, selector } = await tree();
    const last = await scan(selector);
    assert.equal(await lookAt(selector, last, [join(dir, "sub")]), undefined, "a directory");
    await symlink(join(dir, "b.yaml"), join(dir, "link.yaml"));
    assert.equal(await lookAt(selector, last, [join(dir, "link.yaml")]), undefined, "a symlink");
    assert.equal(await lookAt(selector, last, [join(dir, "..data")]), undefined, "a ..data swap");
    await rm(join(dir, "sub"), { recursive: true });
    assert.equal(await lookAt(selector, last, [join(dir, "sub")]), undefined, "removed dir");
  });
});
