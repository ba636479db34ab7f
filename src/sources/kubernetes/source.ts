import type { Source, SourceContext } from "../source.js";
import { AuditIndex } from "./audit/index.js";
import { AuditReceiver } from "./audit/receiver.js";
import { KubeClient } from "./client.js";
import {
  type KubernetesSourceConfig,
  kindKey,
  type ResolvedKubernetesSourceConfig,
  withKubernetesDefaults,
} from "./config.js";
import { type KubeDecoder, sharedKubeDecoder } from "./decoder.js";
import { superviseKind } from "./supervisor.js";

/** Knobs tests turn; production uses the defaults. */
export interface KubernetesSourceTuning {
  /** Jitter source for retries (tests pass a seeded one). */
  random?: () => number;
  /** Told the audit receiver's bound address once it listens (tests listen on port 0). */
  onAuditListening?: (address: string) => void;
  /** Decodes pages and watch lines (tests force the worker or inline); default: the shared one. */
  decoder?: KubeDecoder;
}

export function createKubernetesSource(
  config: KubernetesSourceConfig,
  tuning: KubernetesSourceTuning = {},
): Source {
  return new KubernetesSource(withKubernetesDefaults(config), tuning);
}

/**
 * Watches Kubernetes kinds: one supervisor per configured kind, each listing and watching
 * on its own (a kind that fails, expires or is not served holds back no other). The
 * source's health folds the streams' own: ok when all are, else the degraded ones' reasons.
 */
class KubernetesSource implements Source {
  readonly name: string;
  readonly type = "kubernetes";

  constructor(
    private readonly config: ResolvedKubernetesSourceConfig,
    private readonly tuning: KubernetesSourceTuning,
  ) {
    this.name = config.name;
  }

  async run(ctx: SourceContext, signal: AbortSignal): Promise<void> {
    // A kubeconfig that does not load throws: the runtime shows it and retries with backoff.
    const client = KubeClient.load(this.config);
    const audit = await this.startAudit(ctx);
    try {
      await this.watchAll(ctx, client, audit?.index, signal);
    } finally {
      await audit?.receiver.close();
    }
  }

  private async startAudit(
    ctx: SourceContext,
  ): Promise<{ index: AuditIndex; receiver: AuditReceiver } | undefined> {
    const options = this.config.audit;
    if (!options) return undefined;
    const index = new AuditIndex(ctx.clock, options.windowMs);
    const receiver = new AuditReceiver(options, index, ctx.log.child({ component: "audit" }));
    const address = await receiver.start();
    ctx.log.info({ address }, "audit receiver listening");
    this.tuning.onAuditListening?.(address);
    return { index, receiver };
  }

  private async watchAll(
    ctx: SourceContext,
    client: KubeClient,
    audit: AuditIndex | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const health = new HealthBoard(ctx);
    const settled = new Set<string>();
    let ready = false;
    const kinds = this.config.kinds.map(kindKey);
    const onSettled = (key: string) => {
      settled.add(key);
      if (ready || !kinds.every((k) => this.isSettled(k, settled))) return;
      ready = true;
      ctx.ready(); // the runtime reports "ok" here: say again what the streams said
      health.publish(true);
    };
    await Promise.all(
      this.config.kinds.map((spec) =>
        superviseKind(
          spec,
          {
            client,
            decoder: this.tuning.decoder ?? sharedKubeDecoder(),
            source: ctx.name,
            emit: (o) => ctx.emit(o),
            clock: ctx.clock,
            log: ctx.log,
            labelSelector: this.config.labelSelector,
            pageSize: this.config.pageSize,
            stallTimeoutMs: this.config.stallTimeoutMs,
            namespaces: this.config.namespaces,
            discoveryIntervalMs: this.config.discoveryIntervalMs,
            cursors: ctx.cursors,
            random: this.tuning.random ?? Math.random,
            audit,
            onHealth: (key, status, message) => health.set(key, status, message),
            onSettled,
          },
          signal,
        ),
      ),
    );
  }

  /** A kind is settled once its stream (or each of its namespaces' streams) is. */
  private isSettled(kind: string, settled: Set<string>): boolean {
    if (settled.has(kind)) return true;
    const { namespaces } = this.config;
    return namespaces.length > 0 && namespaces.every((ns) => settled.has(`${kind}/${ns}`));
  }
}

/** Per-stream health, folded into the source's: reported only when the fold changes. */
class HealthBoard {
  private readonly streams = new Map<string, { status: "ok" | "degraded"; message: string }>();
  private last = "";

  constructor(private readonly ctx: SourceContext) {}

  set(key: string, status: "ok" | "degraded", message: string): void {
    this.streams.set(key, { status, message });
    this.publish();
  }

  publish(force = false): void {
    const degraded = [...this.streams.values()].filter((s) => s.status === "degraded");
    const status = degraded.length > 0 ? "degraded" : "ok";
    const message =
      degraded.length > 0
        ? degraded.map((s) => s.message).join("; ")
        : `watching ${this.streams.size} stream(s)`;
    const folded = `${status}\n${message}`;
    if (folded === this.last && !force) return;
    this.last = folded;
    this.ctx.health(status, message);
  }
}
