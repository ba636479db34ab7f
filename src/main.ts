import { join } from "node:path";
import type { Logger } from "pino";
import { callbackNotifier, fanoutNotifier } from "./api/notifier.js";
import { startApi } from "./compose/api.js";
import { watchStoreCommits } from "./compose/commit-watch.js";
import { recordDowntime, startHeartbeat } from "./compose/downtime.js";
import { buildIngest } from "./compose/ingest.js";
import {
  checkMaskKey,
  loadMaskKey,
  loadPreviousMaskKey,
  maskKeyFingerprint,
} from "./compose/mask-key.js";
import { Replica } from "./compose/replicas.js";
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
  /** The API's address (`http://127.0.0.1:7070`) when the config has an `api` block. */
  apiUrl?: string;
  /** Resolves once every source has emitted its initial view (or failed once). */
  ready(): Promise<void>;
  /** Flushes pending source events, commits them, delivers what is committed, closes. */
  stop(): Promise<void>;
  /** While stopping: the sinks still delivering (what a stuck shutdown waits on). */
  unfinishedSinks(): string[];
}

/**
 * The composition root: the only place that wires store, ingest, sources and sinks. It
 * returns at once; sources start concurrently and report their progress in their health.
 */
export async function startCrwatch(config: CrwatchConfig, deps: RuntimeDeps): Promise<Crwatch> {
  const { log } = deps;
  const clock = deps.clock ?? systemClock;
  const { store, release } = await openStore(config.store, "write");
  // A store several replicas share: each source and sink runs where its lease is held.
  const replica = store.leases && new Replica(store.leases, clock, log);
  let ingest: Ingest;
  let stateKey: string;
  try {
    const maskKey = await loadMaskKey(config, store.capabilities.local);
    const previousKey = await loadPreviousMaskKey(config, store.capabilities.local);
    const standing = await checkMaskKey(store, maskKey, previousKey, new Date(clock.now()));
    if (standing === "rotated")
      log.warn("mask key rotated: unchanged objects are re-masked as their sources are read");
    const target = replica ? replica.fenced(store) : store;
    ingest = buildIngest(config, target, maskKey, log, undefined, previousKey);
    stateKey = ingestStateKey(config, maskKey, previousKey);
  } catch (err) {
    await store.close();
    await release();
    throw err;
  }
  if (replica)
    return startReplica(config, deps, { store, release, ingest, replica, clock, stateKey });
  const dispatcher = buildDispatcher(config, store, deps, clock);
  ingest.onCommit((changes) => dispatcher.offer(changes));
  // Commits of other replicas on a shared store wake the sinks too, instead of their poll.
  let unwatch: (() => Promise<void>) | undefined;
  try {
    unwatch = await store.watchCommits?.(() => dispatcher.wake());
  } catch (err) {
    await store.close();
    await release();
    throw err;
  }
  dispatcher.start();
  let api: Awaited<ReturnType<typeof startApi>>;
  let sourcesReady = false;
  try {
    api = await startApi(config, {
      store,
      notifier: callbackNotifier((listener) => ingest.onCommit(listener)),
      log,
      clock,
      onRequeued: () => dispatcher.wake(),
      ready: () => sourcesReady,
    });
  } catch (err) {
    await dispatcher.stop({ drain: false });
    await store.close();
    await release();
    throw err;
  }
  await recordDowntime(
    store,
    ingest,
    config.sources.map((s) => s.name),
    clock,
  );
  const stopHeartbeat = startHeartbeat(store, clock, log);
  const runtime = new SourceRuntime(buildSources(config, stateKey), {
    commit: (observation) => ingest.accept(observation),
    loadCursors: (source) => store.getSourceCursors(source),
    onHealth: (health) => recordHealth(store, health, log),
    log,
    clock,
  });
  runtime.start();
  runtime
    .ready()
    .then(() => {
      sourcesReady = true;
    })
    .catch(() => undefined);
  return {
    store,
    ingest,
    ...(api ? { apiUrl: api.url } : {}),
    ready: () => runtime.ready(),
    unfinishedSinks: () => dispatcher.unfinished(),
    async stop() {
      await runtime.stop();
      await ingest.idle();
      await dispatcher.stop({ drain: true });
      await stopHeartbeat();
      await api?.stop();
      await unwatch?.();
      await store.close();
      await release();
    },
  };
}

interface ReplicaParts {
  store: Store;
  release: () => Promise<void>;
  ingest: Ingest;
  replica: Replica;
  clock: Clock;
  stateKey: string;
}

/** `serve` as one of several replicas: the same parts, started and stopped by leases. */
async function startReplica(
  config: CrwatchConfig,
  deps: RuntimeDeps,
  { store, release, ingest, replica, clock, stateKey }: ReplicaParts,
): Promise<Crwatch> {
  const { log } = deps;
  replica.addSources(buildSources(config, stateKey), {
    commit: (observation) => ingest.accept(observation),
    loadCursors: (source) => store.getSourceCursors(source),
    onHealth: (health) => recordHealth(store, health, log),
    log,
    clock,
  });
  for (const entry of config.sinks) {
    replica.addSink(entry.name, () =>
      buildDispatcher(
        { ...config, sinks: [entry] },
        replica.fencedForSink(store, entry.name),
        deps,
        clock,
      ),
    );
  }
  // Commits of this replica and, through the store's LISTEN/NOTIFY, of every other one
  // wake this replica's sinks and its API's watch streams.
  const commits = fanoutNotifier();
  commits.subscribe(() => replica.wake());
  ingest.onCommit(() => commits.notify());
  let unwatch: (() => Promise<void>) | undefined;
  let api: Awaited<ReturnType<typeof startApi>>;
  // readyz: this replica has made its first round of lease requests (and started what it won).
  let leasesSettled = false;
  try {
    unwatch = await watchStoreCommits(store, () => commits.notify(), { clock, log });
    // Readers run on every replica: each serves the API on its own address.
    api = await startApi(config, {
      store,
      notifier: commits,
      log,
      clock,
      onRequeued: () => replica.wake(),
      ready: () => leasesSettled,
    });
  } catch (err) {
    await unwatch?.();
    await store.close();
    await release();
    throw err;
  }
  replica.start();
  replica
    .ready()
    .then(() => {
      leasesSettled = true;
    })
    .catch(() => undefined);
  return {
    store,
    ingest,
    ...(api ? { apiUrl: api.url } : {}),
    ready: () => replica.ready(),
    // Replica sinks stop with their leases; the replica does not name them yet.
    unfinishedSinks: () => [],
    async stop() {
      await replica.stop(() => ingest.idle());
      await api?.stop();
      await unwatch?.();
      await store.close();
      await release();
    },
  };
}

function buildSources(config: CrwatchConfig, stateKey: string): Source[] {
  return config.sources.map((entry) => {
    const type = SOURCE_TYPES.find((t) => t.type === entry.type)!;
    return type.create(entry, {
      workDir: join(config.store.path, "sources", entry.name),
      stateKey,
    });
  });
}

/**
 * What, besides an object itself, decides what ingest records of it: the mask keys (by
 * fingerprint) and the canonicalization settings. A source that skips re-sending what the
 * store already holds (the files source at a restart) must not skip when these changed.
 */
function ingestStateKey(config: CrwatchConfig, maskKey: Buffer, previousKey?: Buffer): string {
  const { keepStatus, ignorePaths, secretKeys } = config.ingest;
  return JSON.stringify([
    maskKeyFingerprint(maskKey),
    previousKey ? maskKeyFingerprint(previousKey) : null,
    keepStatus,
    ignorePaths,
    secretKeys,
  ]);
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
