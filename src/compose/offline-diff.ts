import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import pino from "pino";
import type { CrwatchConfig } from "../config/schema.js";
import { systemClock } from "../core/clock.js";
import type { Ingest } from "../ingest/pipeline.js";
import type { Change } from "../model/change.js";
import { CrwatchError, type ErrorCode } from "../model/errors.js";
import type { EvaluateRules } from "../model/rule.js";
import { createFilesSource } from "../sources/files/source.js";
import { SourceRuntime } from "../sources/runtime.js";
import type { Store } from "../store/store.js";
import { buildIngest } from "./ingest.js";
import { loadMaskKey } from "./mask-key.js";
import { openStore } from "./store.js";

/** A problem of BEFORE that AFTER no longer has, at its BEFORE path. */
export interface FixedProblem {
  path: string;
  code: ErrorCode;
  message: string;
}

export interface OfflineDiff {
  /** The changes from BEFORE to AFTER, located on the side they are about. */
  changes: Change[];
  /** Problems of BEFORE that AFTER fixed (the history records no entry for a fix). */
  fixed: FixedProblem[];
  /** Problems AFTER still has exactly as BEFORE had them: not reported as changes. */
  unchanged: number;
}

/**
 * Runs both sides through the same source, ingest settings (masking, canonicalization) and
 * store format as `serve`, on a throwaway store, so the offline diff and the recorded
 * history can never disagree on what a change is.
 */
export async function offlineDiff(
  config: CrwatchConfig,
  before: string,
  after: string,
  sourceName = "diff",
): Promise<Change[]> {
  return (await offlineDiffReport(config, before, after, sourceName)).changes;
}

/**
 * Both sides are read through one symbolic link, pointed at BEFORE and then at AFTER, so
 * the source sees what `serve` sees when a file is edited in place: the same paths, so the
 * same problem slots and fingerprints (some hash the path). A problem AFTER has exactly as
 * BEFORE had it is then not recorded again, one that changed or is new is, and one that is
 * gone is closed, as in the history. Paths in the result are mapped back to the real side.
 */
export async function offlineDiffReport(
  config: CrwatchConfig,
  before: string,
  after: string,
  sourceName = "diff",
): Promise<OfflineDiff> {
  return withScratchIngest(config, undefined, async (ingest, store, dir) => {
    const link = join(dir, "side", basename(after));
    await mkdir(dirname(link));
    await symlink(before, link);
    await readSide(ingest, sourceName, link, before);
    const start = await store.lastSeq();
    const openBefore = await store.openProblems(sourceName);
    await unlink(link);
    await symlink(after, link);
    await readSide(ingest, sourceName, link, after);
    const changes = await store.readChanges({ afterSeq: start, limit: Number.MAX_SAFE_INTEGER });
    const openAfter = new Map(
      (await store.openProblems(sourceName)).map((p) => [p.location, p.fingerprint]),
    );
    const toBefore = sideMapper(link, before);
    const toAfter = sideMapper(link, after);
    const fixedSeqs = openBefore.filter((p) => !openAfter.has(p.location)).map((p) => p.seq);
    const fixed = (await readEntries(store, fixedSeqs)).map((c) => ({
      path: relative(before, toBefore(c.location?.path ?? before)) || basename(before),
      code: c.notice!.code,
      message: toBefore(c.notice!.message),
    }));
    const unchanged = openBefore.filter((p) => openAfter.get(p.location) === p.fingerprint);
    return {
      changes: changes.map((c) => locateOnSide(c, c.type === "DELETED" ? toBefore : toAfter)),
      fixed,
      unchanged: unchanged.length,
    };
  });
}

/** Rewrites the link's path, wherever it occurs in a string, to the side's real path. */
function sideMapper(link: string, real: string): (text: string) => string {
  return (text) => text.split(link).join(real);
}

function locateOnSide(change: Change, toSide: (text: string) => string): Change {
  const located: Change = { ...change, ref: { ...change.ref, name: toSide(change.ref.name) } };
  if (change.location)
    located.location = { ...change.location, path: toSide(change.location.path) };
  if (change.notice) located.notice = { ...change.notice, message: toSide(change.notice.message) };
  return located;
}

async function readEntries(store: Store, seqs: number[]): Promise<Change[]> {
  const entries: Change[] = [];
  for (const seq of seqs) {
    const [entry] = await store.readChanges({ afterSeq: seq - 1, limit: 1 });
    if (entry?.notice) entries.push(entry);
  }
  return entries;
}

/**
 * Runs `work` with ingest as `serve` builds it (masking, canonicalization, rules, or the
 * `rules` given) over a throwaway store, removed afterwards.
 */
export async function withScratchIngest<T>(
  config: CrwatchConfig,
  rules: EvaluateRules | undefined,
  work: (ingest: Ingest, store: Store, dir: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "crwatch-diff-"));
  const { store, release } = await openStore({ type: "sqlite", path: dir }, "scratch");
  try {
    // A configured key keeps masks comparable with the history; otherwise any key will do.
    const key =
      config.maskKey || config.maskKeyFile ? await loadMaskKey(config, false) : randomBytes(32);
    const ingest = buildIngest(config, store, key, pino({ level: "silent" }), rules);
    return await work(ingest, store, dir);
  } finally {
    await store.close();
    await release();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Emits one side's full view (`path`, the link to `real`) through the source runtime, once, and stops. */
async function readSide(ingest: Ingest, name: string, path: string, real: string): Promise<void> {
  const source = createFilesSource({ name, type: "files", paths: [path] });
  let failure: string | undefined;
  const runtime = new SourceRuntime([source], {
    commit: (observation) => ingest.accept(observation),
    loadCursors: async () => ({}),
    onHealth: (health) => {
      if (health.status === "failed") failure ??= health.message;
    },
    log: pino({ level: "silent" }),
    clock: systemClock,
  });
  runtime.start();
  await runtime.ready();
  await runtime.stop();
  if (failure) throw new CrwatchError("CRW_DIFF_INPUT", `${real} could not be read: ${failure}`);
}
