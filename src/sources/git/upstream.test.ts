import assert from "node:assert/strict";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { ALICE, BOB, TestRepo } from "../../../test/git-repo.js";
import { sharedDir, tempDir } from "../../../test/helpers.js";
import { systemClock } from "../../core/clock.js";
import { stableStringify } from "../../core/stable-json.js";
import type { Observation } from "../../model/observation.js";
import { refKey } from "../../model/ref.js";
import { createFilesSource } from "../files/source.js";
import { SourceRuntime } from "../runtime.js";
import type { Source } from "../source.js";
import { resolveGitUrl } from "./config.js";
import { createGitSource } from "./source.js";

const quiet = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }));
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function observe(source: Source): Promise<Observation[]> {
  const observations: Observation[] = [];
  const runtime = new SourceRuntime([source], {
    commit: async (o) => {
      observations.push(o);
    },
    loadCursors: async () => ({}),
    onHealth: () => undefined,
    log: quiet,
    clock: systemClock,
  });
  runtime.start();
  await runtime.ready();
  await runtime.stop();
  return observations;
}

/** What the log holds after the observations: ref → object, and the problem codes seen. */
function replay(observations: Observation[]) {
  const objects = new Map<string, string>();
  const problems = new Set<string>();
  for (const o of observations) {
    for (const e of o.events) {
      if (e.type === "upsert") objects.set(refKey(e.item.ref), stableStringify(e.item.object));
      if (e.type === "delete") objects.delete(refKey(e.ref));
      if (e.type === "snapshot") {
        objects.clear();
        for (const item of e.items) objects.set(refKey(item.ref), stableStringify(item.object));
      }
      if (e.type === "problem") problems.add(e.problem.code);
    }
  }
  return { objects, problems };
}

describe("git source over upstream example manifests", () => {
  it("should end where the files source reading the same tree ends, one observation per commit", async () => {
    const tmp = await tempDir("crwatch-git-upstream-");
    cleanups.push(tmp.cleanup);
    const repo = await TestRepo.init(join(tmp.path, "work"));
    const fixtures = join(sharedDir, "fixtures");
    const projects = (await readdir(fixtures, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    const shas: string[] = [];
    for (const [i, project] of projects.entries()) {
      // Example manifests and configs; the CRD schemas (`group_kinds.yaml`) are left out.
      const files = (await readdir(join(fixtures, project))).filter(
        (f) => f.endsWith(".yaml") && !/^[a-z0-9-]+(\.[a-z0-9-]+)+_/.test(f),
      );
      if (files.length === 0) continue;
      await mkdir(join(repo.dir, project));
      for (const f of files) await cp(join(fixtures, project, f), join(repo.dir, project, f));
      shas.push(await repo.commit(`Add ${project} examples`, i % 2 ? BOB : ALICE));
    }
    await repo.git("rm", "--quiet", "gateway-api/gateway.yaml");
    shas.push(await repo.commit("Remove the simple gateway", BOB));
    await repo.git("mv", "kong", "kong-moved");
    shas.push(await repo.commit("Move kong examples"));
    const lb = join(repo.dir, "litellm", "load_balancer.yaml");
    await writeFile(lb, (await readFile(lb, "utf8")).replace(/rpm: \d+/, "rpm: 4242"));
    shas.push(await repo.commit("Raise an rpm limit", BOB));

    const git = await observe(
      createGitSource(
        { name: "s", type: "git", url: resolveGitUrl(repo.dir, "/"), history: "full" },
        { workDir: join(tmp.path, "clone") },
      ),
    );
    const files = await observe(createFilesSource({ name: "s", type: "files", paths: [repo.dir] }));

    // Every commit of `git log` over these paths appears once, in order.
    const logged = (await repo.git("log", "--reverse", "--format=%H", "--", ".")).split("\n");
    assert.deepStrictEqual(logged, shas);
    assert.deepStrictEqual(
      git.map((o) => o.cause?.id),
      shas,
    );
    const fromGit = replay(git);
    const fromFiles = replay(files);
    assert.ok(fromFiles.objects.size > 20, `only ${fromFiles.objects.size} resources`);
    assert.deepStrictEqual(
      [...fromGit.objects.keys()].sort(),
      [...fromFiles.objects.keys()].sort(),
    );
    for (const [key, object] of fromFiles.objects) assert.equal(fromGit.objects.get(key), object);
    assert.deepStrictEqual(fromGit.problems, fromFiles.problems);
  });
});
