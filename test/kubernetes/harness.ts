import pino from "pino";
import { FakeClock } from "../../src/core/clock.js";
import { createMasker } from "../../src/core/mask.js";
import { Ingest } from "../../src/ingest/pipeline.js";
import type { Change } from "../../src/model/change.js";
import type { Observation, ObservationEvent } from "../../src/model/observation.js";
import type { KubernetesSourceConfig } from "../../src/sources/kubernetes/config.js";
import type { KubeDecoder } from "../../src/sources/kubernetes/decoder.js";
import { createKubernetesSource } from "../../src/sources/kubernetes/source.js";
import { type RuntimeHealth, SourceRuntime } from "../../src/sources/runtime.js";
import { openSqliteStore } from "../../src/store/sqlite/store.js";
import type { Store } from "../../src/store/store.js";
import { type FixtureKind, installFixtureCrds, writeKubeconfig } from "../fake-kube/fixtures.js";
import { type FakeKubeOptions, FakeKubeServer } from "../fake-kube/server.js";
import { tempDir, waitFor } from "../helpers.js";

export const SOURCE = "cluster";
const TOKEN = "test-token";

export interface HarnessOptions {
  crds: FixtureKind[];
  config: Omit<KubernetesSourceConfig, "name" | "type" | "kubeconfig">;
  server?: FakeKubeOptions;
  /** The token the kubeconfig presents (default: the one the server wants). */
  clientToken?: string;
  /** How the source decodes pages and watch lines (default: the process's shared decoder). */
  decoder?: KubeDecoder;
}

/**
 * The Kubernetes source against the fake API server, through the real runtime, ingest and
 * a fresh SQLite store, on a FakeClock (timers move only when a test advances them).
 */
export class Harness {
  readonly clock = new FakeClock();
  readonly observations: Observation[] = [];
  readonly health: RuntimeHealth[] = [];
  server!: FakeKubeServer;
  store!: Store;
  private ingest!: Ingest;
  private runtime: SourceRuntime | undefined;
  private dir!: { path: string; cleanup: () => Promise<void> };
  private kubeconfig = "";
  /** Where the audit receiver listens, once it does (config `audit`). */
  auditAddress = "";

  constructor(private readonly options: HarnessOptions) {}

  /** Starts the server (with the fixture CRDs) and the store; `seed` runs before the source starts. */
  async setUp(seed?: (server: FakeKubeServer) => void | Promise<void>): Promise<void> {
    this.server = new FakeKubeServer({ token: TOKEN, ...this.options.server });
    const url = await this.server.start();
    await installFixtureCrds(this.server, this.options.crds);
    await seed?.(this.server);
    this.dir = await tempDir("crwatch-k8s-");
    this.kubeconfig = await writeKubeconfig(this.dir.path, url, this.options.clientToken ?? TOKEN);
    this.store = await openSqliteStore({ dir: this.dir.path });
    this.ingest = new Ingest({
      store: this.store,
      masker: createMasker({ key: Buffer.from("k".repeat(32)) }),
      log: pino({ level: "silent" }),
    });
  }

  /** Starts (or restarts) the source on the same store: it resumes from the stored cursors. */
  startSource(): SourceRuntime {
    const source = createKubernetesSource(
      { name: SOURCE, type: "kubernetes", kubeconfig: this.kubeconfig, ...this.options.config },
      {
        random: () => 0.5,
        ...(this.options.decoder && { decoder: this.options.decoder }),
        onAuditListening: (address) => {
          this.auditAddress = address;
        },
      },
    );
    const runtime = new SourceRuntime([source], {
      commit: async (o) => {
        this.observations.push(o);
        await this.ingest.accept(o);
      },
      loadCursors: (s) => this.store.getSourceCursors(s),
      onHealth: (h) => this.health.push(h),
      log: pino({ level: "silent" }),
      clock: this.clock,
      random: () => 0.5,
    });
    runtime.start();
    this.runtime = runtime;
    return runtime;
  }

  async stopSource(): Promise<void> {
    await this.runtime?.stop(0);
    this.runtime = undefined;
    await this.ingest.idle();
  }

  async tearDown(): Promise<void> {
    await this.stopSource();
    await this.server?.close();
    await this.store?.close();
    await this.dir?.cleanup();
  }

  changes(afterSeq = 0): Promise<Change[]> {
    return this.store.readChanges({ afterSeq });
  }

  events(from = 0): ObservationEvent[] {
    return this.observations.slice(from).flatMap((o) => o.events);
  }

  /** Waits (real time) until the stored changes satisfy `check`. */
  async waitForChanges(
    check: (changes: Change[]) => boolean,
    what: string,
    afterSeq = 0,
  ): Promise<Change[]> {
    return waitFor(
      async () => {
        const changes = await this.changes(afterSeq);
        return check(changes) ? changes : undefined;
      },
      10_000,
      what,
    );
  }

  /** Moves fake time in steps, letting real I/O run between them, until `check` holds. */
  async advanceUntil(
    check: () => boolean | Promise<boolean>,
    stepMs = 1000,
    what = "condition",
  ): Promise<void> {
    await waitFor(
      async () => {
        if (await check()) return true;
        await this.clock.advance(stepMs);
        await new Promise((r) => setTimeout(r, 10));
        return false;
      },
      15_000,
      what,
    );
  }

  lastHealth(): RuntimeHealth | undefined {
    return this.health[this.health.length - 1];
  }

  async cursors(): Promise<Record<string, string>> {
    return this.store.getSourceCursors(SOURCE);
  }
}

/** A short summary of changes for exact assertions: `TYPE Kind ns/name`. */
export function summary(changes: Change[]): string[] {
  return changes.map((c) =>
    c.type === "GAP" || c.type === "ERROR"
      ? `${c.type} ${c.notice?.code}`
      : `${c.type} ${c.ref.kind} ${c.ref.namespace}/${c.ref.name}`,
  );
}
