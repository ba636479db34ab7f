import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { CrwatchError, type ErrorCode } from "../../model/errors.js";
import { maskSecrets } from "./credentials.js";

/** GIT_CONFIG_COUNT (credentials by environment) came with git 2.31. */
const MIN_VERSION = [2, 31] as const;
const MAX_OUTPUT_BYTES = 1024 * 1024 * 1024;
const STDERR_LINES = 3;

export interface GitRunOptions {
  /** The command talks to the remote: credentials go into its environment. */
  remote?: boolean;
  signal?: AbortSignal;
  /** Error code when it fails; default CRW_GIT_FAILED. */
  code?: ErrorCode;
}

/**
 * The real `git` binary, run with an argument array (never a shell) against one bare
 * repository. Every error message is masked: a URL or a token git echoes never leaves here.
 */
export class GitCli {
  constructor(
    readonly gitDir: string,
    private readonly remoteEnv: Record<string, string> = {},
    private readonly secrets: readonly string[] = [],
  ) {}

  /** Runs git and returns stdout as text. */
  async run(args: string[], options: GitRunOptions = {}): Promise<string> {
    return (await this.runRaw(args, options)).toString("utf8");
  }

  /** Exit status 0 → true, 1 or 128 → false (`merge-base --is-ancestor`, `cat-file -e`). */
  async test(args: string[]): Promise<boolean> {
    try {
      await this.runRaw(args, {});
      return true;
    } catch (err) {
      const exitCode = (err as { exitCode?: number }).exitCode;
      if (exitCode === 1 || exitCode === 128) return false;
      throw err;
    }
  }

  runRaw(args: string[], options: GitRunOptions): Promise<Buffer> {
    const full = ["--git-dir", this.gitDir, ...args];
    return new Promise((resolve, reject) => {
      execFile(
        "git",
        full,
        {
          env: this.env(options.remote === true),
          encoding: "buffer",
          maxBuffer: MAX_OUTPUT_BYTES,
          ...(options.signal && { signal: options.signal }),
        },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          const exitCode = typeof err.code === "number" ? err.code : undefined;
          const detail = lastLines(stderr.toString("utf8")) || err.message;
          const failure = new CrwatchError(
            options.code ?? "CRW_GIT_FAILED",
            this.mask(`git ${args[0]} failed (exit code ${exitCode ?? err.code}): ${detail}`),
          );
          Object.assign(failure, { exitCode });
          reject(failure);
        },
      );
    });
  }

  /**
   * Runs git and yields its stdout as it comes, so a caller can work on the first part while
   * git writes the rest; a caller that stops reading pauses git (the pipe fills). Throws, after
   * the last chunk, what `run` throws when git fails; ending the iteration early, or `signal`,
   * stops git.
   */
  async *stream(args: string[], signal?: AbortSignal): AsyncGenerator<Buffer> {
    const child = spawn("git", ["--git-dir", this.gitDir, ...args], {
      env: this.env(false),
      stdio: ["ignore", "pipe", "pipe"],
      ...(signal && { signal }),
    });
    const stderr: Buffer[] = [];
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const exited = new Promise<number | string | null>((resolve) => {
      child.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      child.on("close", (code, killed) => resolve(code ?? killed));
    });
    try {
      for await (const chunk of child.stdout) yield chunk as Buffer;
      const code = await exited;
      if (code !== 0) {
        const detail = lastLines(Buffer.concat(stderr).toString("utf8"));
        const failure = new CrwatchError(
          "CRW_GIT_FAILED",
          this.mask(`git ${args[0]} failed (exit code ${code}): ${detail}`),
        );
        Object.assign(failure, { exitCode: typeof code === "number" ? code : undefined });
        throw failure;
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    }
  }

  mask(text: string): string {
    return maskSecrets(text, this.secrets);
  }

  env(remote: boolean): NodeJS.ProcessEnv {
    return {
      ...process.env,
      LC_ALL: "C",
      GIT_TERMINAL_PROMPT: "0",
      // No password prompt over ssh either: a missing key is an error, not a hang.
      GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes",
      ...(remote ? this.remoteEnv : {}),
    };
  }

  /** A long-lived `git cat-file --batch` for reading many blobs quickly. */
  blobReader(): BlobReader {
    const child = spawn("git", ["--git-dir", this.gitDir, "cat-file", "--batch"], {
      env: this.env(false),
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new BlobReader(child);
  }
}

/** `git --version` → [2, 39, 5]; fails with CRW_GIT_VERSION when git is missing or too old. */
export async function checkGitVersion(): Promise<string> {
  const text = await new Promise<string>((resolve, reject) =>
    execFile("git", ["--version"], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  ).catch((err: unknown) => {
    throw new CrwatchError("CRW_GIT_VERSION", "git is not installed or not on PATH", {
      cause: err,
    });
  });
  const m = /(\d+)\.(\d+)/.exec(text);
  const [major, minor] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (major < MIN_VERSION[0] || (major === MIN_VERSION[0] && minor < MIN_VERSION[1])) {
    throw new CrwatchError(
      "CRW_GIT_VERSION",
      `${text.trim()} is too old; the git source needs ${MIN_VERSION.join(".")} or later`,
    );
  }
  return text.trim();
}

function lastLines(text: string): string {
  return text.trim().split(/\r?\n/).slice(-STDERR_LINES).join(" | ");
}

interface Pending {
  resolve: (blob: Buffer | undefined) => void;
  reject: (err: Error) => void;
}

/**
 * Reads objects through one `git cat-file --batch` process: request `sha\n`, answer
 * `sha type size\n<bytes>\n` (or `sha missing\n`). Answers come in request order.
 */
export class BlobReader {
  private readonly pending: Pending[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private readonly requests: string[] = [];
  private failure: Error | undefined;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on("data", (chunk: Buffer) => this.onData(chunk));
    child.on("error", (err) => this.fail(err));
    child.on("close", () => this.fail(new CrwatchError("CRW_GIT_FAILED", "git cat-file exited")));
    child.stdin.on("error", (err) => this.fail(err));
    child.stderr.resume();
  }

  /** The object's bytes, or undefined when it does not exist. */
  read(sha: string): Promise<Buffer | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      // One write per turn of the event loop for all the shas asked meanwhile: a write per
      // sha costs a system call each, more than git takes to answer (a walk reads ahead).
      if (this.requests.length === 0) setImmediate(() => this.sendRequests());
      this.requests.push(sha);
    });
  }

  private sendRequests(): void {
    const shas = this.requests.splice(0);
    if (shas.length > 0 && !this.failure) this.child.stdin.write(`${shas.join("\n")}\n`);
  }

  close(): void {
    this.child.stdin.end();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const eol = this.buffer.indexOf(0x0a);
      if (eol === -1) return;
      const header = this.buffer.subarray(0, eol).toString("utf8");
      if (header.endsWith(" missing")) {
        this.buffer = this.buffer.subarray(eol + 1);
        this.pending.shift()?.resolve(undefined);
        continue;
      }
      const size = Number(header.split(" ")[2]);
      const end = eol + 1 + size;
      if (this.buffer.length < end + 1) return;
      const blob = Buffer.from(this.buffer.subarray(eol + 1, end));
      this.buffer = this.buffer.subarray(end + 1);
      this.pending.shift()?.resolve(blob);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.splice(0)) p.reject(err);
  }
}
