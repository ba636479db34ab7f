import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { CrwatchConfig } from "./config/schema.js";
import { createMasker } from "./core/mask.js";
import { Ingest } from "./ingest/pipeline.js";
import type { Change } from "./model/change.js";
import { Dispatcher } from "./sinks/dispatcher.js";
import { buildSink } from "./sinks/registry.js";
import { buildSource } from "./sources/registry.js";
import type { Source } from "./sources/source.js";
import { acquireWriterLock } from "./store/sqlite/lock.js";
import { openSqliteStore } from "./store/sqlite/store.js";
import type { Store } from "./store/store.js";

export interface RuntimeDeps {
  log: Logger;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Called after a sink delivered (the benchmark measures change-to-sink latency here). */
  onDelivered?: (sink: string, changes: Change[]) => void;
}

export interface Crwatch {
  store: Store;
  ingest: Ingest;
  /** Flushes pending source events, commits them, delivers what is committed, closes. */
  stop(): Promise<void>;
}

/** The composition root: the only place that wires store, ingest, sources and sinks. */
export async function startCrwatch(config: CrwatchConfig, deps: RuntimeDeps): Promise<Crwatch> {
  const { log } = deps;
  await mkdir(config.store.path, { recursive: true });
  const releaseLock = await acquireWriterLock(config.store.path);
  const store = await openSqliteStore({ dir: config.store.path }).catch(async (err) => {
    await releaseLock();
    throw err;
  });
  const maskKey = await loadMaskKey(config);
  const ingest = new Ingest({
    store,
    log: log.child({ component: "ingest" }),
    masker: createMasker({ key: maskKey, extraKeys: config.ingest.secretKeys }),
    canonicalize: { keepStatus: config.ingest.keepStatus, ignorePaths: config.ingest.ignorePaths },
  });
  const dispatcher = new Dispatcher({
    store,
    log: log.child({ component: "dispatcher" }),
    targets: config.sinks.map((s) => ({
      sink: buildSink(s, { stdout: deps.stdout ?? process.stdout }),
      ...(s.types ? { types: s.types } : {}),
    })),
    retry: config.delivery,
    batchSize: config.delivery.batchSize,
    ...(deps.onDelivered ? { onDelivered: deps.onDelivered } : {}),
  });
  ingest.onCommit(() => dispatcher.wake());
  dispatcher.start();
  const sources = await startSources(config, store, ingest, log);
  return {
    store,
    ingest,
    async stop() {
      for (const source of sources)
        await source
          .flush()
          .catch((err) => log.error({ err, source: source.name }, "flush failed"));
      for (const source of sources)
        await source.stop().catch((err) => log.error({ err, source: source.name }, "stop failed"));
      await ingest.idle();
      for (const source of sources) {
        await store.setSourceHealth({
          source: source.name,
          status: "stopped",
          message: "crwatch stopped",
          updatedAt: new Date().toISOString(),
        });
      }
      await dispatcher.stop({ drain: true });
      await store.close();
      await releaseLock();
    },
  };
}

async function startSources(
  config: CrwatchConfig,
  store: Store,
  ingest: Ingest,
  log: Logger,
): Promise<Source[]> {
  const started: Source[] = [];
  for (const sourceConfig of config.sources) {
    const source = buildSource(sourceConfig);
    const sourceLog = log.child({ source: source.name });
    const health = (status: "starting" | "ok" | "failed", message: string) =>
      store.setSourceHealth({
        source: source.name,
        status,
        message,
        updatedAt: new Date().toISOString(),
      });
    await health("starting", "initial scan");
    try {
      await source.start({
        emit: (observation) => ingest.accept(observation),
        log: sourceLog,
        cursor: await store.getSourceCursor(source.name),
      });
      await health("ok", "watching");
      started.push(source);
    } catch (err) {
      // One broken source must not take the others (or the history) down with it.
      sourceLog.error({ err }, "source failed to start");
      await health("failed", err instanceof Error ? err.message : String(err));
    }
  }
  return started;
}

/**
 * The key behind secret masks. Kept beside the data so masks stay comparable across
 * restarts; anyone with the key can test guesses of a secret, so it is created 0600.
 */
async function loadMaskKey(config: CrwatchConfig): Promise<Buffer> {
  if (config.maskKey) return Buffer.from(config.maskKey, "utf8");
  const path = join(config.store.path, "mask.key");
  try {
    return Buffer.from((await readFile(path, "utf8")).trim(), "hex");
  } catch {
    await mkdir(config.store.path, { recursive: true });
    const key = randomBytes(32);
    await writeFile(path, `${key.toString("hex")}\n`, { mode: 0o600, flag: "wx" }).catch(
      async () => undefined,
    );
    await chmod(path, 0o600).catch(() => undefined);
    return Buffer.from((await readFile(path, "utf8")).trim(), "hex");
  }
}
