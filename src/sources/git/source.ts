import { mkdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { backoffDelay } from "../../core/clock.js";
import { errorMessage } from "../../model/errors.js";
import type { Actor, Cause, ObservationEvent } from "../../model/observation.js";
import type { Emitted, Source, SourceContext } from "../source.js";
import { type GitSourceConfig, type ResolvedGitSourceConfig, withGitDefaults } from "./config.js";
import { type GitAccess, gitAccess } from "./credentials.js";
import { type BlobReader, checkGitVersion, GitCli } from "./git-cli.js";
import { type CommitChanges, type CommitInfo, Repository } from "./history.js";
import { RepoPathSelector } from "./paths.js";
import { type PreparedFiles, TreeState } from "./tree.js";
import { WebhookReceiver } from "./webhook-receiver.js";

export interface GitSourceDeps {
  /** The source's own directory under the data directory; the clone lives in it. */
  workDir: string;
}

/** Commits whose blobs are read and parsed ahead of the one being applied... */
const READ_AHEAD = 256;
/** ...as long as they hold no more than this many blobs (a commit touching 1,000 files). */
const READ_AHEAD_BLOBS = 2048;
/** Observations handed to ingest and not yet committed (ingest folds 16 per transaction). */
const MAX_IN_FLIGHT = 256;

/** A commit listed, its blobs on their way through the parse pool. */
interface Ahead extends CommitChanges {
  files: PreparedFiles;
  blobs: number;
}
/** A failed poll is retried sooner than the interval, then less often, up to the interval. */
const RETRY_INITIAL_MS = 1000;

export function createGitSource(config: GitSourceConfig, deps: GitSourceDeps): GitSource {
  return new GitSource(withGitDefaults(config), deps);
}

/** What one pass over the history needs at hand. */
interface Pass {
  ctx: SourceContext;
  signal: AbortSignal;
  reader: BlobReader;
}

/**
 * Watches one branch of one Git repository. The branch is fetched into a bare clone in the
 * work directory; every new commit (first-parent by default) becomes one observation with
 * the commit as cause and its author as actor, so all of a commit's changes commit together.
 * The cursor of the stream named after the branch is the last commit recorded.
 */
export class GitSource implements Source {
  readonly name: string;
  readonly type = "git";
  private readonly access: GitAccess;
  private readonly repo: Repository;
  private readonly selector: RepoPathSelector;
  private readonly tree: TreeState;
  /** The last commit whose changes are committed (the stored cursor). */
  private position: string | undefined;
  private wakeUp: (() => void) | undefined;
  private wakePending = false;
  private address: AddressInfo | undefined;

  constructor(
    private readonly config: ResolvedGitSourceConfig,
    deps: GitSourceDeps,
  ) {
    this.name = config.name;
    this.access = gitAccess(config.url, config.username, config.password);
    const secrets = [...this.access.secrets, ...(config.webhook ? [config.webhook.secret] : [])];
    const git = new GitCli(join(deps.workDir, "repo.git"), this.access.env, secrets);
    this.repo = new Repository(git, config.branch);
    this.selector = new RepoPathSelector(config);
    this.tree = new TreeState({
      source: config.name,
      selector: this.selector,
      maxFileBytes: config.maxFileBytes,
    });
  }

  /** Where the webhook listener listens (once started); port 0 in the config picks one. */
  webhookAddress(): AddressInfo | undefined {
    return this.address;
  }

  /** Fetches now instead of at the next interval (what an accepted webhook does). */
  poll(): void {
    if (this.wakeUp) this.wakeUp();
    else this.wakePending = true;
  }

  async run(ctx: SourceContext, signal: AbortSignal): Promise<void> {
    // The parse workers load while git starts and fetches.
    this.tree.warm();
    const version = await checkGitVersion();
    ctx.log.debug({ version }, "using git");
    await mkdir(this.repo.git.gitDir, { recursive: true });
    this.position = ctx.cursors[this.config.branch];
    await this.repo.init(this.access.url, this.firstFetchDepth() === undefined);
    const receiver = this.receiver(ctx);
    try {
      if (receiver) {
        this.address = await receiver.start();
        ctx.log.info({ address: this.address }, "listening for push webhooks");
      }
      await this.watch(ctx, signal);
    } finally {
      await receiver?.close();
      this.address = undefined;
    }
  }

  private receiver(ctx: SourceContext): WebhookReceiver | undefined {
    const hook = this.config.webhook;
    if (!hook) return undefined;
    return new WebhookReceiver({
      listen: hook.listen,
      secret: hook.secret,
      ...(hook.maxBodyBytes !== undefined && { maxBodyBytes: hook.maxBodyBytes }),
      onPush: () => this.poll(),
      log: ctx.log,
    });
  }

  /** Catches up, says it is ready, then fetches at each interval or push until stopped. */
  private async watch(ctx: SourceContext, signal: AbortSignal): Promise<void> {
    const reader = this.repo.git.blobReader();
    const pass = { ctx, signal, reader };
    try {
      // A remote that cannot be reached at start throws: the runtime retries with backoff.
      await this.catchUp(pass);
      ctx.ready();
      let failures = 0;
      while (!signal.aborted) {
        const delay = failures === 0 ? this.config.intervalMs : this.retryDelay(failures);
        await this.waitForTrigger(ctx, signal, delay);
        if (signal.aborted) break;
        try {
          await this.catchUp(pass);
          if (failures > 0) ctx.health("ok", `watching ${this.config.branch}`);
          failures = 0;
        } catch (err) {
          if (signal.aborted) break;
          failures++;
          ctx.log.warn({ err, failures }, "git fetch or walk failed; retrying");
          ctx.health("degraded", this.repo.git.mask(errorMessage(err)));
        }
      }
    } finally {
      reader.close();
    }
  }

  private retryDelay(failures: number): number {
    const max = Math.max(RETRY_INITIAL_MS, this.config.intervalMs);
    return backoffDelay(failures, { initialDelayMs: RETRY_INITIAL_MS, maxDelayMs: max });
  }

  private async waitForTrigger(ctx: SourceContext, signal: AbortSignal, ms: number) {
    if (this.wakePending) {
      this.wakePending = false;
      return;
    }
    const wait = new AbortController();
    const stop = () => wait.abort();
    this.wakeUp = stop;
    signal.addEventListener("abort", stop, { once: true });
    await ctx.clock.sleep(ms, wait.signal);
    signal.removeEventListener("abort", stop);
    this.wakeUp = undefined;
  }

  /** Fetches and records every commit between the stored position and the new head. */
  private async catchUp(pass: Pass): Promise<void> {
    const head = await this.repo.fetch(pass.signal, await this.initialDepth());
    const from = this.position;
    if (from === undefined) return this.importFirst(pass, head);
    if (from === head && this.tree.sha === head) return;
    const known = await this.repo.deepenUntil(from, pass.signal);
    if (!known || !(await this.repo.isAncestor(from, head))) {
      return this.rewritten(pass, from, head);
    }
    if (this.tree.sha !== from) await this.load(pass, from);
    await this.walk(pass, from, head);
  }

  /** How deep the first fetch goes: only what the first import needs. */
  private async initialDepth(): Promise<number | undefined> {
    if (await this.repo.hasHead()) return undefined;
    return this.firstFetchDepth();
  }

  /** The depth a clone without commits fetches at first (undefined: the whole history). */
  private firstFetchDepth(): number | undefined {
    if (this.position !== undefined || this.config.since !== undefined) return undefined;
    const { history } = this.config;
    if (history === "head") return 1;
    return history === "full" ? undefined : history + 1;
  }

  /** First start: the configured part of the history. */
  private async importFirst(pass: Pass, head: string): Promise<void> {
    const { history, since } = this.config;
    let base: string | undefined;
    if (since !== undefined) base = await this.repo.resolveCommit(since, pass.signal);
    else if (history === "head") base = head;
    else if (history !== "full") base = await this.repo.firstParentBack(head, history, pass.signal);
    this.tree.reset();
    if (base !== undefined) await this.snapshot(pass, base, []);
    await this.walk(pass, base, head);
  }

  /** The branch no longer contains the recorded commit: say so, then take the new head whole. */
  private async rewritten(pass: Pass, from: string, head: string): Promise<void> {
    const branch = this.config.branch;
    pass.ctx.log.warn({ from, head }, "branch history was rewritten");
    const gap: ObservationEvent = {
      type: "gap",
      code: "CRW_HISTORY_REWRITTEN",
      reason: `branch ${branch} was rewritten: ${from} is not in the history of the new head ${head}`,
      detail: `what follows is the tree at ${head}, compared with what was recorded`,
    };
    this.tree.reset();
    await this.snapshot(pass, head, [gap], {
      kind: "history-rewrite",
      id: head,
      message: `${branch} rewritten from ${from} to ${head}`,
      details: { branch, previousHead: from, newHead: head },
    });
  }

  /** The whole tree at `sha` as one snapshot observation. */
  private async snapshot(
    pass: Pass,
    sha: string,
    before: ObservationEvent[],
    cause?: Cause,
  ): Promise<void> {
    const entries = await this.repo.tree(sha, this.selector.pathspecs());
    const events = await this.tree.apply(sha, entries, pass.reader, true, undefined, pass.signal);
    const [info] = await this.repo.commitInfo([sha]);
    await pass.ctx.emit({
      events: [...before, ...events],
      cursors: { [this.config.branch]: sha },
      cause: cause ?? {
        kind: "snapshot",
        id: sha,
        message: `the tree of ${this.config.branch} at ${sha}`,
        ...(info && { time: new Date(info.committerDate).toISOString() }),
        details: { branch: this.config.branch },
      },
    });
    this.position = sha;
  }

  /** Rebuilds the picture at an already recorded commit, emitting nothing. */
  private async load(pass: Pass, sha: string): Promise<void> {
    this.tree.reset();
    const entries = await this.repo.tree(sha, this.selector.pathspecs());
    await this.tree.apply(sha, entries, pass.reader, true, undefined, pass.signal);
  }

  /**
   * One observation per commit after `from` up to `to` that changes a selected file. Three
   * things overlap: git lists the next commits (one `git log` read as it writes), their blobs
   * are read and parsed (in the parse pool) up to READ_AHEAD commits ahead, and up to
   * MAX_IN_FLIGHT observations wait to be committed, which ingest folds into shared
   * transactions. The picture is moved commit by
   * commit in order, and emits are handed on in commit order (the runtime keeps them in that
   * order even when a commit fails and is retried), each with its own actor and cause.
   */
  private async walk(pass: Pass, from: string | undefined, to: string): Promise<void> {
    const inFlight: Promise<void>[] = [];
    const ahead: Ahead[] = [];
    let aheadBlobs = 0;
    let walked = 0;
    let last: string | undefined;
    const handOn = (committed: Promise<void> | undefined) => {
      if (committed) inFlight.push(committed);
    };
    const applyOldest = async () => {
      const commit = ahead.shift()!;
      aheadBlobs -= commit.blobs;
      // Wrapped: awaiting a promise of a promise would wait for the commit itself.
      handOn((await this.step(pass, commit)).committed);
      // Every following commit already parsed goes in the same turn: their observations reach
      // ingest together, which commits them in shared transactions.
      while (ahead[0]?.files.settled && ahead[0].info.parents[0] === this.tree.sha) {
        const next = ahead.shift()!;
        aheadBlobs -= next.blobs;
        const events = this.tree.applyParsed(next.info.sha, next.entries, next.files.settled!);
        handOn(this.emitCommit(pass, next.info, events));
      }
      // Down to half here too: waiting for one commit at a time would hand ingest one
      // observation per transaction it finishes, and ingest folds only what is queued.
      if (inFlight.length >= MAX_IN_FLIGHT) {
        while (inFlight.length > MAX_IN_FLIGHT / 2) await inFlight.shift();
      }
    };
    const log = this.repo.commitLog(from, to, this.config.firstParent, pass.signal);
    try {
      for await (const commits of log) {
        for (const { info, entries } of commits) {
          if (pass.signal.aborted) return;
          walked++;
          last = info.sha;
          const files = this.tree.prepare(info.sha, entries, pass.reader, pass.signal);
          const blobs = entries.filter((e) => e.blob && this.selector.selects(e.path)).length;
          ahead.push({ info, entries, files, blobs });
          aheadBlobs += blobs;
          if (ahead.length > READ_AHEAD || (aheadBlobs > READ_AHEAD_BLOBS && ahead.length > 1)) {
            // Down to half, not by one: the commits listed next then go out together (one
            // write to `git cat-file`, one run of parses), and so do the observations handed
            // on, which ingest folds into shared transactions.
            do await applyOldest();
            while (ahead.length > READ_AHEAD / 2 || aheadBlobs > READ_AHEAD_BLOBS / 2);
          }
        }
      }
      while (ahead.length > 0 && !pass.signal.aborted) await applyOldest();
    } finally {
      for (const committed of inFlight.splice(0)) await committed;
    }
    if (last !== undefined && this.position !== last && this.tree.sha === last) {
      // Commits that touched nothing selected still move the cursor, so they are not walked again.
      await pass.ctx.emit({ events: [], cursors: { [this.config.branch]: last } });
      this.position = last;
    }
    if (walked > 0) pass.ctx.log.info({ commits: walked, head: to }, "walked commits");
  }

  /** Moves the picture to one commit and hands its observation on (none: nothing changed). */
  private async step(pass: Pass, commit: Ahead): Promise<{ committed?: Promise<void> }> {
    const { info, entries, files } = commit;
    // The log diffs against the first parent; the picture may be of another commit (every
    // commit walked in topological order, or a cursor off the first-parent line).
    const events =
      info.parents[0] === this.tree.sha
        ? await this.tree.apply(info.sha, entries, pass.reader, false, files)
        : await this.tree.apply(
            info.sha,
            await this.repo.diff(this.tree.sha, info.sha, this.selector.pathspecs()),
            pass.reader,
            false,
            undefined,
            pass.signal,
          );
    const committed = this.emitCommit(pass, info, events);
    return committed ? { committed } : {};
  }

  /** Hands a commit's observation on (undefined: nothing changed); resolves once committed. */
  private emitCommit(
    pass: Pass,
    info: CommitInfo,
    events: ObservationEvent[],
  ): Promise<void> | undefined {
    if (events.length === 0) return undefined;
    const committed = pass.ctx.emit(this.commitObservation(info, events)).then(() => {
      this.position = info.sha;
    });
    // Awaited in order by the walk; this only keeps a rejection meanwhile from counting as
    // unhandled.
    committed.catch(() => undefined);
    return committed;
  }

  private commitObservation(info: CommitInfo, events: ObservationEvent[]): Emitted {
    return {
      events,
      cursors: { [this.config.branch]: info.sha },
      actor: commitActor(info),
      cause: commitCause(info, this.config.branch),
    };
  }
}

export function commitActor(info: CommitInfo): Actor {
  return { name: info.authorName, email: info.authorEmail, via: "git" };
}

export function commitCause(info: CommitInfo, branch: string): Cause {
  const details: Record<string, string> = {
    branch,
    committer: `${info.committerName} <${info.committerEmail}>`,
    authoredAt: info.authorDate,
  };
  if (info.parents.length > 1) {
    details.mergedCommit = info.parents.slice(1).join(" ");
    const merged = mergedBranch(info.message);
    if (merged) details.mergedBranch = merged;
  }
  return {
    kind: "commit",
    id: info.sha,
    message: info.message,
    time: new Date(info.committerDate).toISOString(),
    details,
  };
}

/** The branch a merge commit's message names (git, GitHub and GitLab spellings). */
export function mergedBranch(message: string): string | undefined {
  const patterns = [
    /^Merge (?:remote-tracking )?branch '([^']+)'/,
    /^Merge pull request #\d+ from (\S+)/,
    /^Merge branch "([^"]+)"/,
  ];
  for (const pattern of patterns) {
    const m = pattern.exec(message);
    if (m) return m[1];
  }
  return undefined;
}
