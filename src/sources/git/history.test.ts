import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ALICE, BOB, TestRepo } from "../../../test/git-repo.js";
import { tempDir, waitFor } from "../../../test/helpers.js";
import { GitCli } from "./git-cli.js";
import { type CommitChanges, Repository } from "./history.js";

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function scratch(): Promise<string> {
  const dir = await tempDir("crwatch-git-history-");
  cleanups.push(dir.cleanup);
  return dir.path;
}

/** Whether a git process runs on `gitDir` (Linux: from /proc). */
async function gitsRunningOn(gitDir: string): Promise<boolean> {
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const args = cmdline.split("\0");
    if (args[0] === "git" && args.includes(gitDir)) {
      // A zombie (exited, not yet reaped) runs nothing.
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z") return true;
    }
  }
  return false;
}

async function collect(log: AsyncIterable<CommitChanges[]>) {
  const pieces: CommitChanges[][] = [];
  for await (const piece of log) pieces.push(piece);
  return pieces;
}

/** A repository read through its own `.git` (the source reads its bare clone the same way). */
function repositoryOf(repo: TestRepo): Repository {
  return new Repository(new GitCli(join(repo.dir, ".git")), "main");
}

describe("git history: the streamed log", () => {
  it("should list every commit in walk order with its changes, across many pieces of output", async () => {
    const repo = await TestRepo.init(join(await scratch(), "work"));
    // Long messages (with non-ASCII text) and many files: git writes the log in many pipe
    // reads, so records and characters are cut between pieces.
    const shas: string[] = [];
    for (let i = 0; i < 60; i++) {
      for (let f = 0; f < 12; f++) await repo.write(`d${i % 3}/f${f}.yaml`, `n: ${i}\n`);
      if (i % 10 === 5) await repo.remove(`d${i % 3}/f0.yaml`);
      shas.push(await repo.commit(`Commit ${i} — ${"ünïcödé ".repeat(300)}`, i % 2 ? BOB : ALICE));
    }
    const history = repositoryOf(repo);

    const pieces = await collect(history.commitLog(undefined, shas.at(-1)!, true));
    assert.ok(pieces.length > 1, `read in ${pieces.length} piece(s)`);
    const commits = pieces.flat();
    assert.deepStrictEqual(
      commits.map((c) => c.info.sha),
      shas,
    );
    const infos = await history.commitInfo(shas);
    assert.deepStrictEqual(
      commits.map((c) => c.info),
      infos,
    );
    for (const [i, c] of commits.entries()) {
      assert.deepStrictEqual(c.entries, await history.diff(c.info.parents[0], c.info.sha, ["."]));
      assert.match(c.info.message, new RegExp(`^Commit ${i} — ünïcödé`));
    }
    assert.ok(commits[5]!.entries.some((e) => e.status === "D" && e.path === "d2/f0.yaml"));

    const after20 = (await collect(history.commitLog(shas[19], shas.at(-1)!, true))).flat();
    assert.deepStrictEqual(
      after20.map((c) => c.info.sha),
      shas.slice(20),
    );
  });

  it("should fail with git's message when the range does not resolve", async () => {
    const repo = await TestRepo.init(join(await scratch(), "work"));
    await repo.write("a.yaml", "a: 1\n");
    const sha = await repo.commit("One");
    const log = repositoryOf(repo).commitLog("0".repeat(40), sha, true);
    await assert.rejects(collect(log), (err: Error & { code?: string }) => {
      assert.equal(err.code, "CRW_GIT_FAILED");
      assert.match(err.message, /git log failed \(exit code 128\)/);
      return true;
    });
  });

  it("should stop git when the reader stops early", async () => {
    const repo = await TestRepo.init(join(await scratch(), "work"));
    const shas: string[] = [];
    for (let i = 0; i < 40; i++) {
      await repo.write("a.yaml", `n${i}: y\n`.repeat(2000));
      shas.push(await repo.commit(`Commit ${i}`));
    }
    const gitDir = join(repo.dir, ".git");
    const git = new GitCli(gitDir);
    let pieces = 0;
    // Far more output than a pipe holds: a git nobody reads and nobody stops would block.
    for await (const _ of git.stream(["log", "-p", "--format=%H", shas.at(-1)!])) {
      assert.ok(await gitsRunningOn(gitDir), "git writes while it is read");
      if (++pieces === 1) break;
    }
    await waitFor(async () => !(await gitsRunningOn(gitDir)), 5_000, "git to stop");
    const all = await collect(repositoryOf(repo).commitLog(undefined, shas.at(-1)!, true));
    assert.equal(all.flat().length, 40);
  });
});
