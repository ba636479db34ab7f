import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, it } from "node:test";
import { promisify } from "node:util";
import { pino } from "pino";
import { ALICE, BOB, routeYaml, TestRepo } from "../../../test/git-repo.js";
import { tempDir, waitFor } from "../../../test/helpers.js";
import { type Clock, FakeClock, systemClock } from "../../core/clock.js";
import type { Observation, ObservationEvent } from "../../model/observation.js";
import { type RuntimeHealth, SourceRuntime } from "../runtime.js";
import { type GitSourceConfig, resolveGitUrl } from "./config.js";
import { createGitSource, type GitSource } from "./source.js";

const running: SourceRuntime[] = [];
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const runtime of running.splice(0)) await runtime.stop();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function scratch(): Promise<string> {
  const dir = await tempDir("crwatch-git-");
  cleanups.push(dir.cleanup);
  return dir.path;
}

/** What a run of the source committed, as a store would keep it. */
class Ledger {
  readonly observations: Observation[] = [];
  readonly cursors: Record<string, string> = {};
  readonly health: RuntimeHealth[] = [];
}

interface Harness {
  source: GitSource;
  ledger: Ledger;
  runtime: SourceRuntime;
}

async function start(
  config: Partial<GitSourceConfig> & { url: string },
  options: { workDir?: string; ledger?: Ledger; clock?: Clock; ready?: boolean } = {},
): Promise<Harness> {
  const workDir = options.workDir ?? (await scratch());
  const source = createGitSource(
    { name: "repo", type: "git", interval: "1h", ...config, url: resolveGitUrl(config.url, "/") },
    { workDir },
  );
  const ledger = options.ledger ?? new Ledger();
  const runtime = new SourceRuntime([source], {
    commit: async (observation) => {
      ledger.observations.push(observation);
      Object.assign(ledger.cursors, observation.cursors);
    },
    loadCursors: async () => ({ ...ledger.cursors }),
    onHealth: (health) => ledger.health.push(health),
    log: pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() })),
    clock: options.clock ?? systemClock,
    restart: { initialDelayMs: 10, maxDelayMs: 20 },
  });
  runtime.start();
  running.push(runtime);
  if (options.ready !== false) await runtime.ready();
  return { source, ledger, runtime };
}

async function stop(h: Harness): Promise<void> {
  await h.runtime.stop();
  running.splice(running.indexOf(h.runtime), 1);
}

const upserts = (o: Observation) =>
  o.events.filter((e): e is Extract<ObservationEvent, { type: "upsert" }> => e.type === "upsert");
const names = (o: Observation) => upserts(o).map((e) => e.item.ref.name);
const ofType = <T extends ObservationEvent["type"]>(o: Observation, type: T) =>
  o.events.filter((e): e is Extract<ObservationEvent, { type: T }> => e.type === type);

async function gitIn(gitDir: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)("git", [
    "--git-dir",
    join(gitDir, "repo.git"),
    ...args,
  ]);
  return stdout.trim();
}

async function newRepo(): Promise<TestRepo> {
  return TestRepo.init(join(await scratch(), "work"));
}

describe("git source", () => {
  it("should record each commit in order, with its author as actor and the commit as cause", async () => {
    const repo = await newRepo();
    const first = await repo
      .write("routes/a.yaml", routeYaml("a"))
      .then(() => repo.commit("Add route a", ALICE));
    await repo.write("routes/a.yaml", routeYaml("a", 50));
    const second = await repo.commit("Shift a to 50\n\nCanary for the new backend.", BOB, ALICE);
    await repo.write("README.md", "not a manifest\n");
    await repo.commit("Docs only", BOB);

    const { ledger } = await start({ url: repo.dir, history: "full" });

    const commits = ledger.observations.filter((o) => o.cause?.kind === "commit");
    assert.deepStrictEqual(
      commits.map((o) => o.cause?.id),
      [first, second],
    );
    assert.deepStrictEqual(commits[0]!.actor, { ...ALICE, via: "git" });
    assert.deepStrictEqual(commits[1]!.actor, { ...BOB, via: "git" });
    const cause = commits[1]!.cause!;
    assert.equal(cause.message, "Shift a to 50\n\nCanary for the new backend.");
    assert.equal(cause.time, "2026-01-01T10:02:00.000Z");
    assert.equal(cause.details?.committer, `${ALICE.name} <${ALICE.email}>`);
    const item = upserts(commits[1]!)[0]!.item;
    assert.deepStrictEqual(item.location, {
      path: `routes/a.yaml@${second}`,
      line: 1,
      document: 0,
    });
    // The docs-only commit moved the cursor without an observation of its own.
    assert.equal(ledger.cursors.main, await repo.git("rev-parse", "HEAD"));
  });

  it("should put all changes of one commit, deletions included, into one observation", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("a"));
    await repo.write("b.yaml", routeYaml("b"));
    await repo.commit("Two routes");
    await repo.write("a.yaml", routeYaml("a", 10));
    await repo.remove("b.yaml");
    await repo.write("c.yaml", routeYaml("c"));
    const sha = await repo.commit("Rework routes", BOB);

    const { ledger } = await start({ url: repo.dir, history: "full" });

    const last = ledger.observations.at(-1)!;
    assert.equal(last.cause?.id, sha);
    assert.deepStrictEqual(names(last).sort(), ["a", "c"]);
    const deletes = ofType(last, "delete");
    assert.deepStrictEqual(
      deletes.map((d) => d.ref.name),
      ["b"],
    );
    // The delete takes the observation's actor and cause (it names none of its own).
    assert.equal(deletes[0]!.actor, undefined);
    assert.deepStrictEqual(last.actor, { ...BOB, via: "git" });
  });

  it("should record a commit touching 1,000 files as one observation", async () => {
    const repo = await newRepo();
    await repo.write("keep.yaml", routeYaml("keep"));
    await repo.commit("Start");
    for (let i = 0; i < 1000; i++) await repo.write(`many/r${i}.yaml`, routeYaml(`r${i}`));
    const sha = await repo.commit("A thousand routes", BOB);

    const { ledger } = await start({ url: repo.dir, history: "full" });

    const big = ledger.observations.filter((o) => o.cause?.id === sha);
    assert.equal(big.length, 1);
    assert.equal(upserts(big[0]!).length, 1000);
  });

  it("should treat a manifest moved to another directory as the same resource", async () => {
    const repo = await newRepo();
    await repo.write("team-a/route.yaml", routeYaml("moved"));
    await repo.commit("Add");
    await repo.git("mv", "team-a", "team-b");
    const sha = await repo.commit("Move to team b");

    const { ledger } = await start({ url: repo.dir, history: "full" });

    const move = ledger.observations.find((o) => o.cause?.id === sha)!;
    assert.deepStrictEqual(names(move), ["moved"]);
    assert.deepStrictEqual(ofType(move, "delete"), []);
    assert.equal(upserts(move)[0]!.item.location?.path, `team-b/route.yaml@${sha}`);
  });

  it("should walk the first parent: a merge is one observation naming the merged branch", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("a"));
    await repo.commit("Base");
    await repo.git("checkout", "--quiet", "-b", "feature/canary");
    await repo.write("b.yaml", routeYaml("b"));
    await repo.commit("Add b", BOB);
    await repo.write("b.yaml", routeYaml("b", 20));
    await repo.commit("Tune b", BOB);
    await repo.git("checkout", "--quiet", "main");
    await repo.write("a.yaml", routeYaml("a", 70));
    const onMain = await repo.commit("Tune a");
    const merge = await repo.merge("feature/canary", ALICE);

    const { ledger } = await start({ url: repo.dir, history: "full" });

    const ids = ledger.observations.map((o) => o.cause?.id);
    assert.equal(ids.length, 3);
    assert.deepStrictEqual(ids.slice(1), [onMain, merge]);
    const m = ledger.observations.at(-1)!;
    assert.deepStrictEqual(names(m), ["b"]);
    assert.equal(m.cause?.details?.mergedBranch, "feature/canary");
    assert.equal(m.cause?.details?.mergedCommit, await repo.git("rev-parse", "feature/canary"));
  });

  it("should walk every commit in topological order when firstParent is false", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("a"));
    await repo.commit("Base");
    await repo.git("checkout", "--quiet", "-b", "side");
    await repo.write("b.yaml", routeYaml("b"));
    const side = await repo.commit("Add b", BOB);
    await repo.git("checkout", "--quiet", "main");
    await repo.merge("side");

    const { ledger } = await start({ url: repo.dir, history: "full", firstParent: false });

    const withB = ledger.observations.filter((o) => names(o).includes("b"));
    assert.equal(withB[0]!.cause?.id, side);
    assert.deepStrictEqual(withB[0]!.actor, { ...BOB, via: "git" });
  });

  it("should record a malformed YAML file as a problem at path@sha:line and keep walking", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("a"));
    await repo.commit("Good");
    await repo.write("a.yaml", "apiVersion: v1\nkind: [broken\n");
    const bad = await repo.commit("Oops", BOB);
    await repo.write("b.yaml", routeYaml("b"));
    const after = await repo.commit("Add b");
    await repo.write("a.yaml", routeYaml("a", 5));
    const fixed = await repo.commit("Fix a");

    const { ledger } = await start({ url: repo.dir, history: "full" });

    const broken = ledger.observations.find((o) => o.cause?.id === bad)!;
    const [problem] = ofType(broken, "problem");
    assert.equal(problem?.problem.code, "CRW_YAML_SYNTAX");
    assert.equal(problem?.problem.location.path, `a.yaml@${bad}`);
    assert.equal(problem?.problem.location.line, 3);
    assert.deepStrictEqual(ofType(broken, "delete"), [], "a broken file deletes nothing");
    assert.deepStrictEqual(names(ledger.observations.find((o) => o.cause?.id === after)!), ["b"]);
    const fix = ledger.observations.find((o) => o.cause?.id === fixed)!;
    assert.deepStrictEqual(names(fix), ["a"]);
    assert.deepStrictEqual(ofType(fix, "recovered"), [
      { type: "recovered", location: `a.yaml@${bad}` },
    ]);
  });

  it("should report a resource defined twice as in the files source", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("same"));
    await repo.write("b.yaml", routeYaml("same", 1));
    const sha = await repo.commit("Twice");

    const { ledger } = await start({ url: repo.dir, history: "full" });

    const [o] = ledger.observations;
    assert.equal(o?.cause?.id, sha);
    const problems = ofType(o!, "problem");
    assert.equal(problems[0]?.problem.code, "CRW_DUPLICATE_RESOURCE");
    assert.equal(problems[0]?.problem.location.path, `b.yaml@${sha}`);
    assert.equal(upserts(o!)[0]!.item.location?.path, `a.yaml@${sha}`);
  });

  it("should start from the head as one snapshot by default, and N commits back with history: N", async () => {
    const repo = await newRepo();
    const shas: string[] = [];
    for (let i = 1; i <= 4; i++) {
      await repo.write("a.yaml", routeYaml("a", i));
      shas.push(await repo.commit(`Weight ${i}`));
    }

    const head = await start({ url: repo.dir });
    assert.equal(head.ledger.observations.length, 1);
    const [snap] = head.ledger.observations;
    assert.equal(snap!.cause?.kind, "snapshot");
    assert.equal(snap!.cause?.id, shas[3]);
    assert.equal(ofType(snap!, "snapshot")[0]!.items.length, 1);

    const two = await start({ url: repo.dir, history: 2 });
    assert.deepStrictEqual(
      two.ledger.observations.map((o) => [o.cause?.kind, o.cause?.id]),
      [
        ["snapshot", shas[1]],
        ["commit", shas[2]],
        ["commit", shas[3]],
      ],
    );

    const since = await start({ url: repo.dir, since: shas[2]!.slice(0, 10) });
    assert.deepStrictEqual(
      since.ledger.observations.map((o) => o.cause?.id),
      [shas[2], shas[3]],
    );
  });

  it("should resume from the stored cursor after a restart without recording anything twice", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("a"));
    await repo.commit("One");
    const workDir = await scratch();
    const ledger = new Ledger();
    const first = await start({ url: repo.dir, history: "full" }, { workDir, ledger });
    await stop(first);
    const before = ledger.observations.length;

    await repo.write("b.yaml", routeYaml("b"));
    const two = await repo.commit("Two", BOB);
    // A fresh work directory too: the clone is rebuilt, the cursor still holds.
    await start({ url: repo.dir, history: "full" }, { ledger, workDir: await scratch() });

    const fresh = ledger.observations.slice(before);
    assert.deepStrictEqual(
      fresh.map((o) => o.cause?.id),
      [two],
    );
    assert.deepStrictEqual(names(fresh[0]!), ["b"]);
  });

  it("should fetch from a bare remote over file://, and turn a force-push into a GAP and a snapshot", async () => {
    const root = await scratch();
    const remote = await TestRepo.bare(join(root, "remote.git"));
    const repo = await TestRepo.init(join(root, "work"));
    await repo.git("remote", "add", "origin", remote);
    await repo.write("a.yaml", routeYaml("a"));
    await repo.commit("One");
    await repo.write("b.yaml", routeYaml("b"));
    const old = await repo.commit("Two");
    await repo.git("push", "--quiet", "origin", "main");

    const h = await start({ url: `file://${remote}` });
    assert.equal(h.ledger.cursors.main, old);

    await repo.git("reset", "--quiet", "--hard", "HEAD~1");
    await repo.write("c.yaml", routeYaml("c"));
    const rewritten = await repo.commit("Instead of two", BOB);
    await repo.git("push", "--quiet", "--force", "origin", "main");
    h.source.poll();

    const o = await waitFor(() =>
      h.ledger.observations.find((x) => x.cause?.kind === "history-rewrite"),
    );
    const [gap] = ofType(o, "gap");
    assert.equal(gap?.code, "CRW_HISTORY_REWRITTEN");
    assert.match(gap!.reason, new RegExp(`${old}.*${rewritten}`));
    const [snapshot] = ofType(o, "snapshot");
    assert.deepStrictEqual(snapshot!.items.map((i) => i.ref.name).sort(), ["a", "c"]);
    assert.equal(h.ledger.cursors.main, rewritten);
  });

  it("should deepen a shallow clone when the stored cursor is older than what it holds", async () => {
    const repo = await newRepo();
    const shas: string[] = [];
    for (let i = 1; i <= 3; i++) {
      await repo.write("a.yaml", routeYaml("a", i));
      shas.push(await repo.commit(`Weight ${i}`));
    }
    const workDir = await scratch();
    const first = await start({ url: repo.dir }, { workDir });
    await stop(first);
    assert.equal(await gitIn(workDir, "rev-parse", "--is-shallow-repository"), "true");

    // A store restored from an older backup: its cursor predates the shallow clone.
    const ledger = new Ledger();
    ledger.cursors.main = shas[0]!;
    await start({ url: repo.dir }, { workDir, ledger });

    assert.deepStrictEqual(
      ledger.observations.map((o) => o.cause?.id),
      [shas[1], shas[2]],
    );
    assert.equal(await gitIn(workDir, "rev-parse", "--is-shallow-repository"), "false");
  });

  it("should clone a local repository's objects as links for a full import, one branch only", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("a"));
    const one = await repo.commit("One");
    await repo.git("branch", "other");
    await repo.write("a.yaml", routeYaml("a", 2));
    const two = await repo.commit("Two", BOB);
    const workDir = await scratch();
    const h = await start({ url: repo.dir, history: "full" }, { workDir });

    assert.deepStrictEqual(
      h.ledger.observations.map((o) => o.cause?.id),
      [one, two],
    );
    // The clone's copy of a commit is the source repository's file, not a fetched pack.
    const object = (dir: string) => join(dir, "objects", two.slice(0, 2), two.slice(2));
    const ours = await stat(object(join(workDir, "repo.git")));
    const theirs = await stat(object(join(repo.dir, ".git")));
    assert.equal(ours.ino, theirs.ino);
    assert.equal(await gitIn(workDir, "for-each-ref", "--format=%(refname)"), "refs/heads/main");
    assert.equal(await gitIn(workDir, "rev-parse", "--is-shallow-repository"), "false");

    // Later commits come by fetch, as from a remote.
    await repo.write("a.yaml", routeYaml("a", 3));
    const three = await repo.commit("Three");
    h.source.poll();
    await waitFor(() => h.ledger.cursors.main === three, 10_000, "the commit after the clone");
  });

  it("should report a missing local repository as a failed fetch when it would have cloned it", async () => {
    const root = await scratch();
    const h = await start({ url: join(root, "nothing-here"), history: "full" }, { ready: false });
    const failed = await waitFor(() => h.ledger.health.find((x) => x.status === "failed"));
    assert.match(failed.message, /git fetch failed/);
    assert.deepStrictEqual(h.ledger.observations, []);
  });

  it("should mark the source degraded while the remote is gone, and catch up when it is back", async () => {
    const root = await scratch();
    const remote = await TestRepo.bare(join(root, "remote.git"));
    const repo = await TestRepo.init(join(root, "work"));
    await repo.git("remote", "add", "origin", remote);
    await repo.write("a.yaml", routeYaml("a"));
    await repo.commit("One");
    await repo.git("push", "--quiet", "origin", "main");
    const h = await start({ url: `file://${remote}` });

    await rename(remote, `${remote}.away`);
    h.source.poll();
    const degraded = await waitFor(() => h.ledger.health.find((x) => x.status === "degraded"));
    assert.match(degraded.message, /git fetch failed/);

    await rename(`${remote}.away`, remote);
    await repo.write("a.yaml", routeYaml("a", 9));
    const sha = await repo.commit("Two", BOB);
    await repo.git("push", "--quiet", "origin", "main");
    h.source.poll();
    await waitFor(() => h.ledger.cursors.main === sha, 20_000, "the commit after the outage");
    assert.equal(h.ledger.health.at(-1)?.status, "ok");
  });

  it("should fetch again when the poll interval passes on the clock", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("a"));
    await repo.commit("One");
    const clock = new FakeClock();
    const h = await start({ url: repo.dir, interval: "30s" }, { clock });
    await repo.write("a.yaml", routeYaml("a", 1));
    const sha = await repo.commit("Two");

    await clock.advance(29_000);
    assert.equal(h.ledger.cursors.main === sha, false);
    await clock.advance(1_000);
    await waitFor(() => h.ledger.cursors.main === sha, 10_000, "the commit after the interval");
    assert.equal(h.ledger.observations.at(-1)?.cause?.id, sha);
  });

  it("should fetch at once on a signed push webhook and ignore an unsigned one", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("a"));
    await repo.commit("One");
    const secret = "webhook-s3cret";
    const h = await start({ url: repo.dir, webhook: { listen: "127.0.0.1:0", secret } });
    const { port } = h.source.webhookAddress()!;
    await repo.write("a.yaml", routeYaml("a", 3));
    const sha = await repo.commit("Two", BOB);
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
    const post = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${port}/`, { method: "POST", body, headers }).then((r) => r.status);

    assert.equal(await post({ "x-gitea-signature": "0".repeat(64) }), 401);
    assert.equal(h.ledger.observations.length, 1, "a rejected request fetches nothing");
    const signature = createHmac("sha256", secret).update(body).digest("hex");
    assert.equal(await post({ "x-gitea-signature": signature, "x-gitea-delivery": "d-1" }), 202);

    await waitFor(() => h.ledger.cursors.main === sha, 10_000, "the pushed commit");
    assert.equal(h.ledger.observations.at(-1)?.cause?.id, sha);
  });

  it("should fail with CRW_GIT_UNKNOWN_COMMIT in health when `since` names no commit", async () => {
    const repo = await newRepo();
    await repo.write("a.yaml", routeYaml("a"));
    await repo.commit("One");
    const h = await start({ url: repo.dir, since: "deadbeef" }, { ready: false });
    const failed = await waitFor(() => h.ledger.health.find((x) => x.status === "failed"));
    assert.match(failed.message, /commit deadbeef is not in the fetched history of main/);
    assert.deepStrictEqual(h.ledger.observations, []);
  });

  it("should show an unreachable remote in health without its credentials, and retry", async () => {
    const h = await start(
      {
        url: "https://crwatch:s3cret-token@127.0.0.1:9/gateway.git",
        password: "other-s3cret",
      },
      { ready: false },
    );
    const failures = () => h.ledger.health.filter((x) => x.status === "failed");
    await waitFor(() => failures().length >= 2, 10_000, "two failed attempts");
    const failed = failures();
    const text = JSON.stringify(h.ledger.health);
    assert.ok(!text.includes("s3cret"), text);
    assert.match(failed[0]!.message, /CRW_GIT_REMOTE|could not|failed/);
    assert.match(failed[0]!.message, /https:\/\/127\.0\.0\.1:9\/gateway\.git/);
  });
});
