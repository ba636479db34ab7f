import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Person {
  name: string;
  email: string;
}

export const ALICE: Person = { name: "Alice Admin", email: "alice@example.org" };
export const BOB: Person = { name: "Bob Builder", email: "bob@example.org" };

/**
 * A real Git repository in a temp directory, written by tests: files, commits by named
 * authors at fixed times (so shas are the same on every run), branches, merges, resets.
 */
export class TestRepo {
  /** Commit times count up from here, one minute per commit. */
  private tick = Date.parse("2026-01-01T10:00:00Z") / 1000;

  private constructor(readonly dir: string) {}

  static async init(dir: string, branch = "main"): Promise<TestRepo> {
    await mkdir(dir, { recursive: true });
    const repo = new TestRepo(dir);
    await repo.git("init", "--quiet", "--initial-branch", branch);
    return repo;
  }

  /** A bare repository that `repo` pushes to (a "remote"). */
  static async bare(dir: string): Promise<string> {
    await mkdir(dir, { recursive: true });
    await run("git", ["init", "--quiet", "--bare", dir]);
    return dir;
  }

  async git(...args: string[]): Promise<string> {
    const { stdout } = await run("git", ["-C", this.dir, ...args], {
      env: this.env(ALICE, ALICE),
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout.trim();
  }

  async write(path: string, text: string): Promise<void> {
    const abs = join(this.dir, path);
    await mkdir(dirname(abs), { recursive: true });
    await writeFile(abs, text);
  }

  async remove(path: string): Promise<void> {
    await rm(join(this.dir, path));
  }

  /** Stages everything and commits; returns the new sha. */
  async commit(message: string, author: Person = ALICE, committer: Person = author) {
    await this.git("add", "--all");
    this.tick += 60;
    await run("git", ["-C", this.dir, "commit", "--quiet", "--allow-empty", "-m", message], {
      env: this.env(author, committer),
    });
    return this.git("rev-parse", "HEAD");
  }

  /** Merges `branch` with a merge commit (no fast-forward); returns the merge's sha. */
  async merge(branch: string, author: Person = ALICE): Promise<string> {
    this.tick += 60;
    await run("git", ["-C", this.dir, "merge", "--quiet", "--no-ff", "--no-edit", branch], {
      env: this.env(author, author),
    });
    return this.git("rev-parse", "HEAD");
  }

  private env(author: Person, committer: Person): NodeJS.ProcessEnv {
    const date = `@${this.tick} +0000`;
    return {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_NAME: committer.name,
      GIT_COMMITTER_EMAIL: committer.email,
      GIT_COMMITTER_DATE: date,
    };
  }
}

/** A route manifest with a weight, the usual thing tests change. */
export function routeYaml(name: string, weight = 100, namespace = "shop"): string {
  return [
    "apiVersion: gateway.networking.k8s.io/v1",
    "kind: HTTPRoute",
    "metadata:",
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    "spec:",
    "  rules:",
    "    - backendRefs:",
    `        - name: ${name}`,
    `          weight: ${weight}`,
    "",
  ].join("\n");
}
