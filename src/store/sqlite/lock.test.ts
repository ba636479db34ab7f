import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../../test/helpers.js";
import { acquireWriterLock } from "./lock.js";

describe("the writer lock", () => {
  it("should take over a lock whose pid now belongs to an unrelated live process", async () => {
    const dir = await tempDir();
    // A live process that is not crwatch (a pid reused after a crash).
    const other = spawn("sleep", ["30"]);
    try {
      await writeFile(join(dir.path, "serve.lock"), `${other.pid}\n`);
      const release = await acquireWriterLock(dir.path);
      assert.equal(
        (await readFile(join(dir.path, "serve.lock"), "utf8")).trim(),
        String(process.pid),
      );
      await release();
    } finally {
      other.kill();
      await dir.cleanup();
    }
  });

  it("should take over a lock whose process is gone", async () => {
    const dir = await tempDir();
    const gone = spawn("true");
    await new Promise((resolve) => gone.on("exit", resolve));
    await writeFile(join(dir.path, "serve.lock"), `${gone.pid}\n`);
    const release = await acquireWriterLock(dir.path);
    await release();
    await dir.cleanup();
  });
});
