import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEFAULT_HEAP_MIB } from "../../src/cli/heap.js";
import { cliPath, tempDir, waitFor } from "../helpers.js";

/**
 * `crwatch serve` started as users start it (no V8 flags, no NODE_OPTIONS): the CLI
 * relaunches it under the default heap limit, or the one CRWATCH_HEAP_MIB or NODE_OPTIONS
 * asks for. The serving process logs what its heap may grow to.
 */
describe("crwatch serve's heap limit", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };

  before(async () => {
    tmp = await tempDir("crwatch-heap-");
    await writeFile(
      join(tmp.path, "cm.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\ndata: {x: '1'}\n",
    );
  });
  after(async () => {
    await tmp.cleanup();
  });

  /** Starts serve, reads its heap limit from the "watching" log line, stops it with SIGINT. */
  async function servedHeapLimit(env: NodeJS.ProcessEnv, run: string): Promise<number> {
    const { NODE_OPTIONS: _, CRWATCH_HEAP_MIB: __, ...clean } = process.env;
    const child = spawn(
      process.execPath,
      [cliPath, "serve", "--watch", tmp.path, "--data-dir", join(tmp.path, `data-${run}`)],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...clean, CRWATCH_MASK_KEY: "e2e-mask-key-0123456789", ...env },
      },
    );
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const line = await waitFor(
      () =>
        err.split("\n").find((l) => l.includes("crwatch is watching")) ??
        (child.exitCode !== null ? `exited: ${err}` : undefined),
      20_000,
      "serve to start",
    );
    const limit = (JSON.parse(line) as { heapLimitMiB: number }).heapLimitMiB;
    // The signal reaches the serving process once (a second one would skip the flush).
    child.kill("SIGINT");
    assert.equal(await exited, 0, err);
    assert.match(err, /"msg":"stopped"/);
    assert.doesNotMatch(err, /exiting without flushing/);
    return limit;
  }

  /** The heap limit is the old space plus a young generation of a few MiB. */
  function assertOldSpace(limit: number, oldSpace: number): void {
    assert.ok(limit >= oldSpace && limit <= oldSpace + 64, `${limit} MiB for ${oldSpace} MiB`);
  }

  it("should run under the default limit", async () => {
    assertOldSpace(await servedHeapLimit({}, "default"), DEFAULT_HEAP_MIB);
  });

  it("should run under CRWATCH_HEAP_MIB", async () => {
    assertOldSpace(await servedHeapLimit({ CRWATCH_HEAP_MIB: "300" }, "env"), 300);
  });

  it("should keep a limit set in NODE_OPTIONS", async () => {
    const env = { NODE_OPTIONS: "--max-old-space-size=700", CRWATCH_HEAP_MIB: "300" };
    assertOldSpace(await servedHeapLimit(env, "node-options"), 700);
  });

  it("should run under V8's own limit when CRWATCH_HEAP_MIB is off", async () => {
    const plain = spawnSync(process.execPath, [
      "-p",
      "Math.round(require('v8').getHeapStatistics().heap_size_limit / 1024 / 1024)",
    ]);
    const v8Default = Number(plain.stdout.toString().trim());
    assert.equal(await servedHeapLimit({ CRWATCH_HEAP_MIB: "off" }, "off"), v8Default);
  });

  it("should refuse a heap size it cannot run in, with exit code 2", () => {
    const r = spawnSync(process.execPath, [cliPath, "serve", "--watch", tmp.path], {
      env: { ...process.env, CRWATCH_HEAP_MIB: "10" },
      encoding: "utf8",
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^crwatch: CRW_USAGE: CRWATCH_HEAP_MIB must be/);
  });
});
