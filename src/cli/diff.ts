import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import type { Command } from "commander";
import pino from "pino";
import { createMasker } from "../core/mask.js";
import { renderChange } from "../core/render-change.js";
import { Ingest } from "../ingest/pipeline.js";
import type { Change } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import type { Observation } from "../model/observation.js";
import { createFilesSource } from "../sources/files/source.js";
import { openSqliteStore } from "../store/sqlite/store.js";
import { tempDirectory } from "./common.js";

const SOURCE = "diff";

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description(
      "compare two files or two directories offline; prints the changes from BEFORE to AFTER",
    )
    .argument("<before>", "file or directory")
    .argument("<after>", "file or directory")
    .option("--output <format>", "text or json (one object per line)", "text")
    .action(async (before: string, after: string, flags: { output: string }) => {
      const changes = await diffPaths(resolve(before), resolve(after));
      for (const change of changes) {
        const { seq, hash, prevHash, committedAt, ...rest } = change;
        process.stdout.write(
          `${flags.output === "json" ? JSON.stringify(rest) : renderChange(change, { color: process.stdout.isTTY === true, offline: true })}\n`,
        );
      }
    });
}

/**
 * Runs both sides through the same source and ingest as `serve`, on a throwaway store, so
 * the offline diff and the recorded history can never disagree on what a change is.
 */
export async function diffPaths(before: string, after: string): Promise<Change[]> {
  for (const path of [before, after]) {
    await stat(path).catch((err) => {
      throw new CrwatchError("CRW_DIFF_INPUT", `${path} cannot be read`, { cause: err });
    });
  }
  const tmp = await tempDirectory("crwatch-diff-");
  const store = await openSqliteStore({ dir: tmp.path });
  try {
    const ingest = new Ingest({
      store,
      masker: createMasker({ key: randomBytes(32) }),
      log: pino({ level: "silent" }),
    });
    await ingest.accept(await readSide(before));
    const start = await store.lastSeq();
    await ingest.accept(keepAcrossSides(await readSide(after), after, before));
    return await store.readChanges({ afterSeq: start, limit: Number.MAX_SAFE_INTEGER });
  } finally {
    await store.close();
    await tmp.cleanup();
  }
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
      ? { ...event, keep: event.keep.flatMap((p) => [p, translate(p)]) }
      : event,
  );
  return { ...observation, events };
}

/** The full view of one side, as the files source's initial snapshot. */
async function readSide(path: string): Promise<Observation> {
  const source = createFilesSource({ name: SOURCE, type: "files", paths: [path] });
  const events: Observation["events"] = [];
  await source.start({
    emit: async (observation) => {
      events.push(...observation.events);
    },
    log: pino({ level: "silent" }),
    cursor: undefined,
  });
  await source.stop();
  return { source: SOURCE, events, observedAt: new Date().toISOString() };
}
