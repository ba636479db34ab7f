import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import pino from "pino";
import type { CrwatchConfig } from "../config/schema.js";
import { systemClock } from "../core/clock.js";
import type { Ingest } from "../ingest/pipeline.js";
import type { Change } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import type { Observation } from "../model/observation.js";
import type { EvaluateRules } from "../model/rule.js";
import { createFilesSource } from "../sources/files/source.js";
import { SourceRuntime } from "../sources/runtime.js";
import type { Store } from "../store/store.js";
import { buildIngest } from "./ingest.js";
import { loadMaskKey } from "./mask-key.js";
import { openStore } from "./store.js";

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
  return withScratchIngest(config, undefined, async (ingest, store) => {
    await readSide(ingest, sourceName, [before], (o) => o);
    const start = await store.lastSeq();
    await readSide(ingest, sourceName, [after], (o) => keepAcrossSides(o, after, before));
    return store.readChanges({ afterSeq: start, limit: Number.MAX_SAFE_INTEGER });
  });
}

/**
 * Runs `work` with ingest as `serve` builds it (masking, canonicalization, rules, or the
 * `rules` given) over a throwaway store, removed afterwards.
 */
export async function withScratchIngest<T>(
  config: CrwatchConfig,
  rules: EvaluateRules | undefined,
  work: (ingest: Ingest, store: Store) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "crwatch-diff-"));
  const { store, release } = await openStore({ type: "sqlite", path: dir }, "scratch");
  try {
    // A configured key keeps masks comparable with the history; otherwise any key will do.
    const key =
      config.maskKey || config.maskKeyFile ? await loadMaskKey(config, false) : randomBytes(32);
    const ingest = buildIngest(config, store, key, pino({ level: "silent" }), rules);
    return await work(ingest, store);
  } finally {
    await store.close();
    await release();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Emits one side's full view (`paths`) through the source runtime, once, and stops. */
async function readSide(
  ingest: Ingest,
  name: string,
  paths: string[],
  translate: (o: Observation) => Observation,
): Promise<void> {
  const source = createFilesSource({ name, type: "files", paths });
  let failure: string | undefined;
  const runtime = new SourceRuntime([source], {
    commit: (observation) => ingest.accept(translate(observation)),
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
  if (failure)
    throw new CrwatchError("CRW_DIFF_INPUT", `${paths.join(", ")} could not be read: ${failure}`);
}

/**
 * What AFTER could not read says nothing about the objects BEFORE held at the same place:
 * the objects' locations are BEFORE's paths, so each unreadable AFTER path is also kept
 * under its BEFORE name (a broken file is an ERROR in the diff, not a deletion).
 */
function keepAcrossSides(
  observation: Observation,
  afterRoot: string,
  beforeRoot: string,
): Observation {
  const translate = (path: string) =>
    path === afterRoot || path.startsWith(`${afterRoot}${sep}`)
      ? join(beforeRoot, relative(afterRoot, path))
      : path;
  const events = observation.events.map((event) =>
    event.type === "snapshot"
      ? {
          ...event,
          keep: (event.keep ?? []).flatMap((k) =>
            k.locationPrefix === undefined
              ? [k]
              : [k, { ...k, locationPrefix: translate(k.locationPrefix) }],
          ),
        }
      : event,
  );
  return { ...observation, events };
}
