import { join } from "node:path";
import type { Logger } from "pino";
import { buildIngest } from "./compose/ingest.js";
import { checkMaskKey, loadMaskKey } from "./compose/mask-key.js";
import { openStore } from "./compose/store.js";
import type { CrwatchConfig } from "./config/schema.js";
import { type Clock, systemClock } from "./core/clock.js";
import type { Ingest } from "./ingest/pipeline.js";
import type { Change } from "./model/change.js";
import { policyOf } from "./sinks/config-schema.js";
import { Dispatcher } from "./sinks/dispatcher.js";
import { SINK_TYPES } from "./sinks/registry.js";
import { SOURCE_TYPES } from "./sources/registry.js";
import { type RuntimeHealth, SourceRuntime } from "./sources/runtime.js";
import type { Source } from "./sources/source.js";
import type { Store } from "./store/store.js";

export interface RuntimeDeps {
  log: Logger;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  clock?: Clock;
  /** Called after a sink delivered (the benchmark measures change-to-sink latency here). */
  onDelivered?: (sink: string, changes: Change[]) => void;
}

export interface Crwatch {
  store: Store;
  ingest: Ingest;
  /** Resolves once every source has emitted its initial view (or failed once). */
  ready(): Promise<void>;
  /** Flushes pending source events, commits them, delivers what is committed, closes. */
  stop(): Promise<void>;
}

/**
 * The composition root: the only place that wires store, ingest, sources and sinks. It
 * returns at once; sources start concurrently and report their progress in their health.
 */
export async function startCrwatch(config: CrwatchConfig, deps: RuntimeDeps): Promise<Crwatch> {
  const { log } = deps;
  const clock = deps.clock ?? systemClock;
  const { store, release } = await openStore(config.store, "write");
  let ingest: Ingest;
  try {
    const maskKey = await loadMaskKey(config, store.capabilities.local);
    await checkMaskKey(store, maskKey);
    ingest = buildIngest(config, store, maskKey, log);
  } catch (err) {
    await store.close();
    await release();
    throw err;
  }
  const dispatcher = buildDispatcher(config, store, deps, clock);
  ingest.onCommit((changes) => dispatcher.offer(changes));
  dispatcher.start();
  const runtime = new SourceRuntime(buildSources(config), {
    commit: (observation) => ingest.accept(observation),
    loadCursors: (source) => store.getSourceCursors(source),
    onHealth: (health) => recordHealth(store, health, log),
    log,
    clock,
  });
  runtime.start();
  return {
    store,
    ingest,
    ready: () => runtime.ready(),
    async stop() {
      await runtime.stop();
      await ingest.idle();
      await dispatcher.stop({ drain: true });
      await store.close();
      await release();
    },
  };
}

function buildSources(config: CrwatchConfig): Source[] {
  return config.sources.map((entry) => {
    const type = SOURCE_TYPES.find((t) => t.type === entry.type)!;
    return type.create(entry, { workDir: join(config.store.path, "sources", entry.name) });
  });
}

function buildDispatcher(
  config: CrwatchConfig,
  store: Store,
  deps: RuntimeDeps,
  clock: Clock,
): Dispatcher {
  const sinkDeps = { stdout: deps.stdout ?? process.stdout, clock };
  return new Dispatcher({
    store,
    log: deps.log.child({ component: "dispatcher" }),
    clock,
    targets: config.sinks.map((entry) => ({
      sink: SINK_TYPES.find((t) => t.type === entry.type)!.create(entry, sinkDeps),
      policy: policyOf(entry, config.delivery),
    })),
    ...(deps.onDelivered ? { onDelivered: deps.onDelivered } : {}),
  });
}

/** Health goes to the store for `status`; a failed write is logged, never thrown at a source. */
function recordHealth(store: Store, health: RuntimeHealth, log: Logger): void {
  store.setSourceHealth(health).catch((err) => log.warn({ err }, "could not record source health"));
}
