import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Change } from "../../src/model/change.js";
import { openSqliteStore } from "../../src/store/sqlite/store.js";
import { tempDir, waitFor } from "../helpers.js";
import {
  cli,
  readHistory,
  type Served,
  serve,
  stop,
  waitForChanges,
  waitUntilWatching,
} from "./process.js";

/**
 * Root reads a `chmod 000` directory anyway (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so as
 * root crwatch runs under `setpriv` with both capabilities dropped from its bounding set: it
 * stays uid 0 (it owns the temporary directory) but obeys permission bits like anyone else.
 */
const SETPRIV = [
  "setpriv",
  "--inh-caps=-all",
  "--ambient-caps=-all",
  "--bounding-set=-dac_override,-dac_read_search",
  "--",
];

/** The launcher that makes `chmod 000` bite, or why there is none (the tests then skip). */
async function permissionLauncher(): Promise<{ launcher: string[] } | { skip: string }> {
  const launcher = process.getuid?.() === 0 ? SETPRIV : [];
  const probe = await tempDir("crwatch-perm-probe-");
  try {
    const locked = join(probe.path, "locked");
    await mkdir(locked);
    await chmod(locked, 0o000);
    const script = `require("fs").readdirSync(${JSON.stringify(locked)})`;
    const [file, ...args] = [...launcher, process.execPath, "-e", script];
    const r = spawnSync(file ?? "", args, { encoding: "utf8" });
    await chmod(locked, 0o755);
    if (r.error) return { skip: `${file} is not usable (${r.error.message}); install util-linux` };
    if (r.status === 0)
      return { skip: "cannot drop the capabilities that let root read a chmod 000 directory" };
    if (!r.stderr.includes("EACCES")) return { skip: `probe failed oddly: ${r.stderr.trim()}` };
    return { launcher };
  } finally {
    await probe.cleanup();
  }
}

const permissions = await permissionLauncher();

function route(name: string, weight: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: shop
spec:
  rules:
    - backendRefs:
        - name: v1
          weight: ${weight}
`;
}

const isResourceChange = (c: Change) => ["ADDED", "MODIFIED", "DELETED"].includes(c.type);

async function openProblems(dataDir: string) {
  const store = await openSqliteStore({ dir: dataDir, readonly: true });
  try {
    return await store.openProblems("files");
  } finally {
    await store.close();
  }
}

describe("a watched directory that becomes unreadable while crwatch runs", {
  skip: "skip" in permissions ? permissions.skip : false,
}, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let watched: string;
  let team: string;
  let data: string;
  let served: Served;

  before(async () => {
    tmp = await tempDir("crwatch-unreadable-");
    watched = join(tmp.path, "cfg");
    team = join(watched, "team");
    data = join(tmp.path, "data");
    await mkdir(team, { recursive: true });
    await writeFile(join(watched, "top.yaml"), route("top", 1));
    await writeFile(join(team, "b.yaml"), route("b", 2));
    await writeFile(join(team, "c.yaml"), route("c", 3));
    const launcher = "launcher" in permissions ? permissions.launcher : [];
    served = serve(["--watch", watched, "--data-dir", data], undefined, {}, launcher);
    await waitUntilWatching(served);
    await waitForChanges(data, (c) => c.type === "ADDED", 3);
  });
  after(async () => {
    await chmod(team, 0o755).catch(() => undefined);
    if (served.child.exitCode === null) await stop(served);
    await tmp.cleanup();
  });

  it("should record one ERROR naming the directory and delete nothing under it", async () => {
    await chmod(team, 0o000);
    const [error] = await waitForChanges(data, (c) => c.type === "ERROR");
    assert.equal(error?.notice?.code, "CRW_FILE_UNREADABLE");
    assert.equal(error?.location?.path, team);
    // A later edit elsewhere is seen, so the source kept working past the ERROR.
    await writeFile(join(watched, "top.yaml"), route("top", 10));
    await waitForChanges(data, (c) => c.type === "MODIFIED" && c.ref.name === "top");
    const history = await readHistory(data);
    assert.deepEqual(
      history.filter((c) => c.type === "DELETED").map((c) => c.ref.name),
      [],
      "nothing under an unreadable directory is taken as deleted",
    );
    assert.equal(history.filter((c) => c.type === "ERROR").length, 1);
  });

  it("should close the ERROR on recovery with no ADDED or DELETED noise", async () => {
    const before = (await readHistory(data)).length;
    await chmod(team, 0o755);
    await waitFor(
      async () => (await openProblems(data)).length === 0,
      15_000,
      "the ERROR to close",
    );
    // A marker edit after recovery proves the batches before it are committed.
    await writeFile(join(watched, "marker.yaml"), route("marker", 4));
    await waitForChanges(data, (c) => c.type === "ADDED" && c.ref.name === "marker");
    const since = (await readHistory(data)).slice(before);
    assert.deepEqual(
      since.filter(isResourceChange).map((c) => `${c.type} ${c.ref.name}`),
      ["ADDED marker"],
    );
    assert.deepEqual(
      since.filter((c) => c.type === "ERROR"),
      [],
    );
  });

  it("should still see edits under the directory once it is readable again", async () => {
    await writeFile(join(team, "b.yaml"), route("b", 20));
    await waitForChanges(data, (c) => c.type === "MODIFIED" && c.ref.name === "b");
    const exit = await stop(served);
    assert.equal(exit.code, 0, served.stderr());
    const verify = cli(["verify", "--data-dir", data]);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  });
});
