import assert from "node:assert/strict";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Change } from "../../src/model/change.js";
import { tempDir } from "../helpers.js";
import {
  cli,
  readHistory,
  type Served,
  serve,
  stop,
  waitForChanges,
  waitUntilWatching,
} from "./process.js";

const KEY_A = "rotation-key-A-0123456789";
const KEY_B = "rotation-key-B-0123456789";
const KEY_C = "rotation-key-C-0123456789";
const COUNT = 4;

/** A ConfigMap holding two secrets (masked by their keys) and a readable field. */
function settings(i: number, password: string, apiKey: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-${i}
  namespace: shop
data:
  colour: blue
  password: ${password}
  api_key: ${apiKey}
`;
}

const isRotation = (c: Change) => c.type === "GAP" && c.notice?.code === "CRW_MASK_KEY_ROTATED";
const brief = (c: Change) => `${c.type} ${c.ref.name}`;

async function run(
  watched: string,
  data: string,
  env: NodeJS.ProcessEnv,
): Promise<{ served: Served; since: number }> {
  const since = (await readHistory(data).catch(() => [])).length;
  const served = serve(["--watch", watched, "--data-dir", data], undefined, env);
  await waitUntilWatching(served);
  return { served, since };
}

/** Starts, waits for the initial view to be committed, stops: what that start recorded. */
async function startAndStop(watched: string, data: string, env: NodeJS.ProcessEnv) {
  const { served, since } = await run(watched, data, env);
  const exit = await stop(served);
  assert.equal(exit.code, 0, served.stderr());
  return (await readHistory(data)).slice(since);
}

describe("deliberate mask key rotation (maskKeyPrevious)", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let watched: string;
  let data: string;
  let served: Served | undefined;

  before(async () => {
    tmp = await tempDir("crwatch-rotation-");
    watched = join(tmp.path, "cfg");
    data = join(tmp.path, "data");
    await mkdir(watched);
    for (let i = 0; i < COUNT; i++)
      await writeFile(join(watched, `s${i}.yaml`), settings(i, `pw-${i}-old`, `key-${i}-old`));
    const first = await startAndStop(watched, data, { CRWATCH_MASK_KEY: KEY_A });
    assert.equal(first.filter((c) => c.type === "ADDED").length, COUNT);
  });
  after(async () => {
    if (served && served.child.exitCode === null) await stop(served);
    await tmp.cleanup();
  });

  it("should refuse a new key without the previous one, and a previous key that is not the store's", async () => {
    const plain = serve(["--watch", watched, "--data-dir", data], undefined, {
      CRWATCH_MASK_KEY: KEY_B,
    });
    assert.equal((await plain.exited).code, 2);
    assert.match(plain.stderr(), /CRW_MASK_KEY_MISMATCH[\s\S]*CRWATCH_MASK_KEY_PREVIOUS/);
    const wrong = serve(["--watch", watched, "--data-dir", data], undefined, {
      CRWATCH_MASK_KEY: KEY_B,
      CRWATCH_MASK_KEY_PREVIOUS: KEY_C,
    });
    assert.equal((await wrong.exited).code, 2);
    assert.match(wrong.stderr(), /CRW_MASK_KEY_MISMATCH: neither the mask key/);
    assert.deepEqual(
      (await readHistory(data)).filter((c) => c.type !== "ADDED"),
      [],
      "a refused start records nothing",
    );
  });

  it("should record one rotation entry and no false MODIFIED; a secret changed meanwhile is MODIFIED alone", async () => {
    // Edited while crwatch is down, across the rotation: a real change.
    await writeFile(join(watched, "s1.yaml"), settings(1, "pw-1-NEW", "key-1-old"));
    const started = await run(watched, data, {
      CRWATCH_MASK_KEY: KEY_B,
      CRWATCH_MASK_KEY_PREVIOUS: KEY_A,
    });
    served = started.served;
    const recorded = (await readHistory(data)).slice(started.since);
    assert.equal(recorded.filter(isRotation).length, 1);
    assert.deepEqual(recorded.filter((c) => !isRotation(c)).map(brief), ["MODIFIED settings-1"]);
    const [modified] = recorded.filter((c) => c.type === "MODIFIED");
    assert.deepEqual(
      modified?.patch.map((op) => op.path),
      ["/data/password"],
      "the unchanged api_key under new masks is no part of the change",
    );
  });

  it("should record a secret edited after the rotation as one MODIFIED", async () => {
    await writeFile(join(watched, "s2.yaml"), settings(2, "pw-2-old", "key-2-NEW"));
    const [modified] = await waitForChanges(data, (c) => brief(c) === "MODIFIED settings-2");
    assert.deepEqual(
      modified?.patch.map((op) => op.path),
      ["/data/api_key"],
    );
    const exit = await stop(served!);
    assert.equal(exit.code, 0, served!.stderr());
    const verify = cli(["verify", "--data-dir", data]);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  });

  it("should need no previous key once rotated: the next start records nothing", async () => {
    const recorded = await startAndStop(watched, data, { CRWATCH_MASK_KEY: KEY_B });
    assert.deepEqual(recorded.map(brief), []);
    const all = await readHistory(data);
    assert.equal(all.filter(isRotation).length, 1);
    assert.equal(all.filter((c) => c.type === "MODIFIED").length, 2);
  });
});

describe("rotating a generated key (<data dir>/mask.key moved to mask.key.previous)", () => {
  it("should take a new generated key with one rotation entry and no false MODIFIED", async () => {
    const tmp = await tempDir("crwatch-rotation-dir-");
    try {
      const watched = join(tmp.path, "cfg");
      const data = join(tmp.path, "data");
      await mkdir(watched);
      for (let i = 0; i < COUNT; i++)
        await writeFile(join(watched, `s${i}.yaml`), settings(i, `pw-${i}`, `key-${i}`));
      // An empty CRWATCH_MASK_KEY is unset: crwatch generates <data dir>/mask.key.
      const generated = { CRWATCH_MASK_KEY: "" };
      await startAndStop(watched, data, generated);
      await rename(join(data, "mask.key"), join(data, "mask.key.previous"));
      const recorded = await startAndStop(watched, data, generated);
      assert.deepEqual(recorded.map(brief), ["GAP mask key"]);
      assert.equal(recorded.filter(isRotation).length, 1);
      assert.equal(cli(["verify", "--data-dir", data]).status, 0);
    } finally {
      await tmp.cleanup();
    }
  });
});
