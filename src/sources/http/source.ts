import { backoffDelay } from "../../core/clock.js";
import { sha256Hex, stableStringify } from "../../core/stable-json.js";
import { errorMessage } from "../../model/errors.js";
import type { JsonValue } from "../../model/json.js";
import type { ObservedObject } from "../../model/observation.js";
import type { Emitted, Source, SourceContext } from "../source.js";
import { HttpClient } from "./client.js";
import {
  type HttpSourceConfig,
  type ResolvedHttpSourceConfig,
  withHttpDefaults,
} from "./config.js";
import { type CachedPage, HttpStatusError, listPages } from "./paginate.js";
import { apisixPreset } from "./presets/apisix.js";
import { genericPreset } from "./presets/generic.js";
import { kongPreset } from "./presets/kong.js";
import { litellmPreset } from "./presets/litellm.js";
import {
  type Endpoint,
  type EntityContext,
  joinUrl,
  type Preset,
  withQuery,
} from "./presets/preset.js";
import { FieldRedactor, SecretText, urlPassword } from "./redact.js";
import { SnapshotWriter } from "./snapshot-writer.js";

/** Knobs tests turn; production uses the defaults. */
export interface HttpSourceTuning {
  /** Jitter source (tests pass a seeded one). */
  random?: () => number;
  /** Backoff between polls after a failed one. */
  backoff?: { initialDelayMs: number; maxDelayMs: number };
  /** Called after each poll, before the wait for the next (tests step fake time from here). */
  onPoll?: (failures: number) => void;
}

const DEFAULT_BACKOFF = { initialDelayMs: 1000, maxDelayMs: 300_000 };

export function createHttpSource(config: HttpSourceConfig, tuning: HttpSourceTuning = {}): Source {
  return new HttpSource(withHttpDefaults(config), tuning);
}

export function presetOf(config: HttpSourceConfig): Preset {
  switch (config.preset) {
    case "kong":
      return kongPreset;
    case "apisix":
      return apisixPreset;
    case "litellm":
      return litellmPreset;
    case "generic":
      return genericPreset(config.generic!);
  }
}

/** What one endpoint's last complete read left behind. */
interface EndpointState {
  /** Pages with validators, by URL: asked again with If-None-Match / If-Modified-Since. */
  cache: Map<string, CachedPage>;
  /** Digest of each page's entities as last committed: an equal list is not emitted again. */
  digests: string[];
  /** id → name, for endpoints that others look up. */
  names: Map<string, string>;
  /** Entities of the cached pages: a 304 reuses them unless a looked-up endpoint changed. */
  derived: Map<string, { digest: string; items: ObservedObject[] }>;
}

interface PollOutcome {
  failures: { endpoint: Endpoint; reason: string }[];
  emitted: number;
}

/**
 * Polls an admin API. Each poll reads every endpoint of the preset in order; each endpoint
 * is a scope `{group, kind}` read as a paged snapshot (begin, a page per page as it
 * arrives, end), so entities that are new, changed or gone become ADDED, MODIFIED and
 * DELETED. A list that reads exactly as last time (all 304s, or the same entities) emits
 * nothing. An endpoint that fails part way ends no snapshot, so nothing is deleted; the
 * source says so in its health and, once an outage lasts longer than the interval, in
 * one GAP per outage.
 */
class HttpSource implements Source {
  readonly name: string;
  readonly type = "http";
  private readonly preset: Preset;
  private readonly secrets: SecretText;
  private readonly redactor: FieldRedactor;
  private readonly headers: Record<string, string>;
  private readonly random: () => number;
  private readonly backoff: { initialDelayMs: number; maxDelayMs: number };
  private readonly onPoll: (failures: number) => void;
  private readonly states = new Map<string, EndpointState>();
  private readonly unserved = new Set<string>();
  private downSince: number | undefined;
  private gapWritten = false;
  private failedPolls = 0;

  constructor(
    private readonly config: ResolvedHttpSourceConfig,
    tuning: HttpSourceTuning,
  ) {
    this.name = config.name;
    this.preset = presetOf(config);
    this.headers = {
      ...(config.token ? this.preset.tokenHeaders(config.token) : {}),
      ...config.headers,
    };
    const credentials = [...Object.values(this.headers), config.token, urlPassword(config.url)];
    this.secrets = new SecretText(credentials);
    this.redactor = new FieldRedactor(config.name, credentials);
    this.random = tuning.random ?? Math.random;
    this.backoff = tuning.backoff ?? DEFAULT_BACKOFF;
    this.onPoll = tuning.onPoll ?? (() => undefined);
  }

  async run(ctx: SourceContext, signal: AbortSignal): Promise<void> {
    const client = new HttpClient({
      headers: this.headers,
      timeoutMs: this.config.timeoutMs,
      maxResponseBytes: this.config.maxResponseBytes,
      ...(this.config.tls ? { tls: this.config.tls } : {}),
      clock: ctx.clock,
      secrets: this.secrets,
    });
    // A restart re-reads everything: what was committed before is not known here.
    this.states.clear();
    try {
      let first = true;
      while (!signal.aborted) {
        const outcome = await this.poll(ctx, client, signal);
        if (signal.aborted) return;
        if (first) ctx.ready();
        first = false;
        await this.report(ctx, outcome);
        this.onPoll(outcome.failures.length);
        await ctx.clock.sleep(this.nextDelay(outcome), signal);
      }
    } finally {
      client.close();
    }
  }

  private nextDelay(outcome: PollOutcome): number {
    if (outcome.failures.length > 0) {
      this.failedPolls += 1;
      return backoffDelay(this.failedPolls, this.backoff, this.random);
    }
    this.failedPolls = 0;
    const { intervalMs, jitter } = this.config;
    return Math.round(intervalMs + this.random() * jitter * intervalMs);
  }

  private async poll(
    ctx: SourceContext,
    client: HttpClient,
    signal: AbortSignal,
  ): Promise<PollOutcome> {
    const outcome: PollOutcome = { failures: [], emitted: 0 };
    const failed = new Set<string>();
    const changed = new Set<string>();
    for (const endpoint of this.preset.endpoints) {
      if (signal.aborted) break;
      const missing = (endpoint.needs ?? []).filter((n) => failed.has(n) && !this.states.has(n));
      if (missing.length > 0) {
        failed.add(endpoint.name);
        outcome.failures.push({ endpoint, reason: `not read: needs ${missing.join(", ")} first` });
        continue;
      }
      try {
        const stale = (endpoint.needs ?? []).some((n) => changed.has(n));
        if (await this.pollEndpoint(ctx, client, endpoint, stale, signal)) {
          outcome.emitted += 1;
          changed.add(endpoint.name);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (endpoint.optional && err instanceof HttpStatusError && err.status === 404) {
          this.notServed(ctx, endpoint);
          continue;
        }
        failed.add(endpoint.name);
        outcome.failures.push({ endpoint, reason: this.secrets.mask(errorMessage(err)) });
      }
    }
    return outcome;
  }

  /** Reads one endpoint as a paged snapshot; returns whether anything was emitted. */
  private async pollEndpoint(
    ctx: SourceContext,
    client: HttpClient,
    endpoint: Endpoint,
    namesChanged: boolean,
    signal: AbortSignal,
  ): Promise<boolean> {
    const previous = this.states.get(endpoint.name);
    const next: EndpointState = {
      cache: new Map(),
      digests: [],
      names: new Map(),
      derived: new Map(),
    };
    const writer = new SnapshotWriter(
      `http:${endpoint.name}`,
      { group: endpoint.group, kind: endpoint.kind },
      previous?.digests,
      (events) => this.emit(ctx, events),
      // Should this read fail part way, what was upserted differs from the last complete
      // read: the next poll must emit in full, even if the API is back as it was.
      () => {
        if (previous) previous.digests = [];
      },
    );
    const entityCtx = this.entityContext();
    const url = endpoint.url(this.config.url, this.config.pageSize);
    const cache = previous?.cache ?? new Map();
    for await (const page of listPages(client, url, endpoint.paging, cache, next.cache, signal)) {
      const reusable = page.notModified && !namesChanged && !endpoint.expand;
      const reused = reusable ? previous?.derived.get(page.url) : undefined;
      const items =
        reused?.items ?? (await this.derive(client, endpoint, page.items, entityCtx, signal));
      const digest = reused?.digest ?? sha256Hex(stableStringify(items));
      for (const item of page.items) {
        const named = endpoint.index?.(item);
        if (named) next.names.set(named[0], named[1]);
      }
      if (next.cache.has(page.url)) next.derived.set(page.url, { digest, items });
      await writer.page(items, digest);
    }
    const emitted = await writer.end();
    next.digests = writer.pageDigests();
    this.states.set(endpoint.name, next);
    return emitted;
  }

  /** A page's entities: completed first where the preset expands items (Kong targets). */
  private async derive(
    client: HttpClient,
    endpoint: Endpoint,
    raw: JsonValue[],
    ctx: EntityContext,
    signal: AbortSignal,
  ): Promise<ObservedObject[]> {
    const items = endpoint.expand ? await this.expand(client, endpoint, raw, signal) : raw;
    return this.entities(endpoint, items, ctx);
  }

  /** Completes a page's items one after another (an admin API is not to be flooded). */
  private async expand(
    client: HttpClient,
    endpoint: Endpoint,
    items: JsonValue[],
    signal: AbortSignal,
  ): Promise<JsonValue[]> {
    const list = async (path: string) => {
      const all: JsonValue[] = [];
      const url = withQuery(joinUrl(this.config.url, path), { size: this.config.pageSize ?? 1000 });
      for await (const page of listPages(
        client,
        url,
        endpoint.paging,
        new Map(),
        new Map(),
        signal,
      )) {
        all.push(...page.items);
      }
      return all;
    };
    const out: JsonValue[] = [];
    for (const item of items) out.push(await endpoint.expand!(item, list));
    return out;
  }

  /** Logged once per run: the server does not serve an optional list. */
  private notServed(ctx: SourceContext, endpoint: Endpoint): void {
    if (this.unserved.has(endpoint.name)) return;
    this.unserved.add(endpoint.name);
    ctx.log.info(
      { endpoint: endpoint.name },
      "the admin API does not serve this list (404); skipped",
    );
  }

  private entities(endpoint: Endpoint, raw: JsonValue[], ctx: EntityContext): ObservedObject[] {
    return raw.map((item) => {
      const entity = endpoint.toEntity(item, ctx);
      return this.observed(endpoint, entity.name, entity.namespace ?? "", entity.object);
    });
  }

  private entityContext(): EntityContext {
    return {
      nameOf: (endpoint, id) => this.states.get(endpoint)?.names.get(id),
      seen: new Map(),
      redactor: this.redactor,
    };
  }

  private observed(
    endpoint: Endpoint,
    name: string,
    namespace: string,
    object: ObservedObject["object"],
  ): ObservedObject {
    return {
      ref: { source: this.name, group: endpoint.group, kind: endpoint.kind, namespace, name },
      object,
      location: { path: `${this.secrets.mask(this.config.url)}/${endpoint.name}` },
    };
  }

  private emit(ctx: SourceContext, events: Emitted["events"]): Promise<void> {
    return ctx.emit({ events, cause: { kind: "poll" } });
  }

  /** Health after each poll; one GAP per outage once it outlasts the interval. */
  private async report(ctx: SourceContext, outcome: PollOutcome): Promise<void> {
    const now = ctx.clock.now();
    if (outcome.failures.length === 0) {
      if (this.downSince !== undefined) ctx.log.info("admin API reads cleanly again");
      this.downSince = undefined;
      this.gapWritten = false;
      ctx.health(
        "ok",
        `polled ${this.preset.endpoints.length} endpoint(s); ${outcome.emitted} changed`,
      );
      return;
    }
    this.downSince ??= now;
    const reasons = outcome.failures.map((f) => `${f.endpoint.name}: ${f.reason}`).join("; ");
    ctx.log.warn({ failures: reasons }, "poll failed; nothing deleted for the failed endpoints");
    ctx.health(
      "degraded",
      `poll incomplete since ${new Date(this.downSince).toISOString()}: ${reasons}`,
    );
    if (!this.gapWritten && now - this.downSince > this.config.intervalMs) {
      this.gapWritten = true;
      await ctx.emit({
        events: [
          {
            type: "gap",
            code: "CRW_SOURCE_DOWN",
            reason: `admin API not fully readable since ${new Date(this.downSince).toISOString()}`,
            detail: reasons,
          },
        ],
      });
    }
  }
}
