import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { tempDir, waitFor } from "../../../test/helpers.js";
import { DirWatcher } from "./dir-watch.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function watcher() {
  const heard: string[] = [];
  const errors: unknown[] = [];
  const w = new DirWatcher(
    (path) => heard.push(path),
    (err) => errors.push(err),
  );
  cleanups.push(() => w.close());
  return { w, heard, errors };
}

describe("DirWatcher", () => {
  it("should name the entries that change in a watched directory, and stop at keepOnly", async () => {
    const dir = await tempDir("crwatch-dirwatch-");
    cleanups.push(dir.cleanup);
    await mkdir(join(dir.path, "sub"));
    const { w, heard } = watcher();
    w.keepOnly([dir.path, join(dir.path, "sub")], []);
    assert.equal(w.size, 2);
    await writeFile(join(dir.path, "sub", "a.yaml"), "a: 1\n");
    await waitFor(() => heard.includes(join(dir.path, "sub", "a.yaml")), 5000, "event for a.yaml");
    w.keepOnly([dir.path], []);
    assert.equal(w.size, 1, "the directory no walk lists any more is not watched");
  });

  it("should report a watch that cannot be set once, however often it is tried again", async () => {
    const { w, errors } = watcher();
    // Not about a path that is gone or unreadable (those the walk reports): an error the
    // source must hear, like ENOSPC when the inotify limit is reached.
    const bad = `/${"x".repeat(300)}`;
    w.add(bad);
    w.add(bad);
    w.keepOnly([bad], []);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as { code?: string }).code, "ENAMETOOLONG");
    // Once no walk lists it, a later failure is news again.
    w.keepOnly([], []);
    w.add(bad);
    assert.equal(errors.length, 2);
  });

  it("should skip a directory that is gone by the time it is watched", () => {
    const { w, errors } = watcher();
    w.add("/nonexistent/crwatch/dir");
    assert.equal(w.size, 0);
    assert.deepEqual(errors, []);
  });
});
