import type { Logger } from "pino";
import type { Clock } from "../../core/clock.js";
import { CrwatchError } from "../../model/errors.js";
import { type ObservationEvent, type Scope, withFields } from "../../model/observation.js";
import type { Emitted } from "../source.js";
import type { AuditFacts, AuditIndex } from "./audit/index.js";
import { type KubeClient, KubeHttpError } from "./client.js";
import {
  type DecodedEvent,
  type DecodedList,
  type DecodeStream,
  toCrwatchError,
  toObserved,
} from "./decode.js";
import type { KubeDecoder } from "./decoder.js";
import type { ServedKind } from "./discovery.js";

/** One list+watch stream: a kind, in one namespace or all; its resourceVersion is one cursor. */
export interface KindStream {
  served: ServedKind;
  namespace: string | undefined;
  /** The cursor stream name (and snapshot id): `HTTPRoute.gateway.networking.k8s.io[/ns]`. */
  key: string;
  scope: Scope;
}

export interface ListWatchDeps {
  client: KubeClient;
  /** Turns pages and watch lines into items that carry their object as text (decoder.ts). */
  decoder: KubeDecoder;
  source: string;
  emit(observation: Emitted): Promise<void>;
  clock: Clock;
  log: Logger;
  labelSelector: string | undefined;
  pageSize: number;
  stallTimeoutMs: number;
  /** When set, each watched change waits (up to the audit window) for its audit event. */
  audit?: AuditIndex | undefined;
}

/** How a watch ended. `progressed`: it delivered at least one line. */
export type WatchEnd =
  | { reason: "expired"; detail: string }
  | { reason: "closed" | "dropped" | "stalled"; progressed: boolean; detail: string };

/** `/apis/<group>/<version>[/namespaces/<ns>]/<plural>` (core: `/api/<version>/…`). */
export function collectionPath(stream: KindStream): string {
  const { served, namespace } = stream;
  const base = served.group ? `/apis/${served.group}/${served.version}` : `/api/${served.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${served.plural}`;
}

function decodeStream(stream: KindStream, source: string): DecodeStream {
  return { served: stream.served, key: stream.key, source };
}

/**
 * Lists the stream's objects page by page (`limit`/`continue`) and emits them as one paged,
 * scoped snapshot, so the pipeline infers deletions for this kind (and namespace) only. The
 * list's resourceVersion is the cursor, stored with the snapshot's end: a list cut short
 * leaves the old cursor, and the next start lists again. `gapFrom`: the resourceVersion
 * whose watch expired; the GAP entry names it and the new list's.
 */
export async function listStream(
  stream: KindStream,
  deps: ListWatchDeps,
  signal: AbortSignal,
  gapFrom?: string,
): Promise<string> {
  let page = 0;
  let listRv = "";
  const decoding = decodeStream(stream, deps.source);
  const fetchPage = (token: string | undefined) => {
    const params = new URLSearchParams({ limit: String(deps.pageSize) });
    if (token) params.set("continue", token);
    if (deps.labelSelector) params.set("labelSelector", deps.labelSelector);
    const path = `${collectionPath(stream)}?${params}`;
    const request = deps.client
      .getBytes(path, signal)
      .then((body) => deps.decoder.list(decoding, path, body));
    // Awaited below; a stop or a failed emit may leave a prefetched page unread.
    request.catch(() => {});
    return request;
  };
  let next: Promise<DecodedList> | undefined = fetchPage(undefined);
  // Pages handed to the pipeline and not yet committed: the runtime commits them in order,
  // and the ingest builds one while it commits another (or folds them into one transaction).
  const committing: Promise<void>[] = [];
  while (next && !signal.aborted) {
    const list: DecodedList = await next;
    const token = list.continue || undefined;
    // The next page is on its way while this one is committed: the API server and the
    // pipeline work at the same time.
    next = token ? fetchPage(token) : undefined;
    if (page === 0) listRv = list.resourceVersion;
    const emitted = deps.emit(listPage(stream, list, page, token, listRv, gapFrom));
    committing.push(emitted);
    // Rejections are taken by the awaits below; one not awaited yet must not count as unhandled.
    emitted.catch(() => {});
    if (committing.length >= LIST_PAGES_IN_FLIGHT) await committing.shift();
    page++;
  }
  while (committing.length > 0) await committing.shift();
  return listRv;
}

/** List pages emitted and not yet committed, at most (each holds up to `pageSize` objects). */
const LIST_PAGES_IN_FLIGHT = 3;

/** One list page as an observation: the snapshot's begin (and GAP) on the first, its end and cursor on the last. */
function listPage(
  stream: KindStream,
  list: DecodedList,
  page: number,
  token: string | undefined,
  listRv: string,
  gapFrom: string | undefined,
): Emitted {
  const items = list.items.map(toObserved);
  const events: ObservationEvent[] = [];
  if (page === 0) {
    if (gapFrom !== undefined) events.push(expiredGap(stream, gapFrom, listRv));
    events.push({ type: "snapshot-begin", id: stream.key, scope: stream.scope });
  }
  events.push({ type: "snapshot-page", id: stream.key, items });
  if (!token) events.push({ type: "snapshot-end", id: stream.key });
  return { events, ...(token ? {} : { cursors: { [stream.key]: listRv } }) };
}

function expiredGap(stream: KindStream, fromRv: string, listRv: string): ObservationEvent {
  return {
    type: "gap",
    code: "CRW_WATCH_EXPIRED",
    reason: `the watch of ${stream.key} expired (410 Gone)`,
    detail: `resourceVersion ${fromRv || "(none)"} is no longer served; relisted at resourceVersion ${listRv}, changes in between are inferred`,
    scope: stream.scope,
  };
}

/**
 * Watches from `cursor.rv` with bookmarks, emitting each event with the new resourceVersion
 * as the stream's cursor (a bookmark moves the cursor alone). Returns how it ended; a silent
 * watch (no line for `stallTimeoutMs` on the injected clock) is cut and reported as stalled.
 * Error statuses and lines that are not watch events throw.
 */
export async function watchStream(
  stream: KindStream,
  deps: ListWatchDeps,
  cursor: { rv: string },
  signal: AbortSignal,
): Promise<WatchEnd> {
  const params = new URLSearchParams({
    watch: "1",
    resourceVersion: cursor.rv,
    allowWatchBookmarks: "true",
  });
  if (deps.labelSelector) params.set("labelSelector", deps.labelSelector);
  const cut = new AbortController();
  const onAbort = () => cut.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  let stalled = false;
  let progressed = false;
  const arm = () =>
    deps.clock.setTimeout(() => {
      stalled = true;
      cut.abort();
    }, deps.stallTimeoutMs);
  let timer = arm();
  const emitter = new OrderedEmitter(deps.emit);
  const decoding = decodeStream(stream, deps.source);
  try {
    const { lines } = await deps.client.stream(`${collectionPath(stream)}?${params}`, cut.signal);
    for await (const batch of lines) {
      deps.clock.clearTimeout(timer);
      progressed = true;
      for (const event of await deps.decoder.events(decoding, batch)) {
        const expired = handleEvent(stream, deps, cursor, event, emitter, signal);
        if (expired) {
          await emitter.drain();
          return { reason: "expired", detail: expired };
        }
      }
      await emitter.belowHighWater();
      timer = arm();
    }
    await emitter.drain();
    return { reason: "closed", progressed, detail: "the server ended the watch" };
  } catch (err) {
    // Whatever was read before the failure is emitted first: the resume starts after it.
    await emitter.drain();
    if (stalled)
      return {
        reason: "stalled",
        progressed,
        detail: `no event or bookmark for ${deps.stallTimeoutMs} ms`,
      };
    if (signal.aborted || err instanceof CrwatchError) throw err;
    return { reason: "dropped", progressed, detail: String((err as Error)?.message ?? err) };
  } finally {
    deps.clock.clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
    cut.abort();
  }
}

/**
 * Queues one watch event for emission; returns a message when it says the resourceVersion
 * expired. With an audit index, the event waits for its audit event (up to the window)
 * while later lines are read on.
 */
function handleEvent(
  stream: KindStream,
  deps: ListWatchDeps,
  cursor: { rv: string },
  event: DecodedEvent,
  emitter: OrderedEmitter,
  signal: AbortSignal,
): string | undefined {
  if (event.type === "bad") throw toCrwatchError(event.error);
  if (event.type === "ERROR") {
    if (event.code === 410) return event.message || "410 Gone";
    throw new KubeHttpError(
      event.code ?? 500,
      collectionPath(stream),
      event.reason || "watch ERROR event",
      event.message,
    );
  }
  const { rv } = event;
  cursor.rv = rv;
  const cursors = { [stream.key]: rv };
  if (event.type === "BOOKMARK") {
    emitter.push({ events: [], cursors });
    return undefined;
  }
  const item = toObserved(event.item);
  const build = (facts: AuditFacts | undefined): Emitted => {
    const who = facts ?? (event.type === "DELETED" ? undefined : item);
    const change: ObservationEvent =
      event.type === "DELETED"
        ? {
            type: "delete",
            ref: item.ref,
            ...(item.location ? { location: item.location } : {}),
            ...(who?.actor ? { actor: who.actor } : {}),
            ...(who?.cause ? { cause: who.cause } : {}),
          }
        : { type: "upsert", item: facts ? withFields(item, facts) : item };
    return { events: [change], cursors };
  };
  if (!deps.audit) {
    emitter.push(build(undefined));
    return undefined;
  }
  const key = {
    group: stream.served.group,
    resource: stream.served.plural,
    namespace: item.ref.namespace,
    name: item.ref.name,
  };
  emitter.push(deps.audit.match(key, rv, signal).then(build));
  return undefined;
}

/** Past this many queued events, reading waits for emission (back-pressure). */
const HIGH_WATER = 1000;
/** Events merged into one observation at most. */
const MAX_BATCH = 500;

interface Queued {
  ready: Promise<void>;
  value?: Emitted;
}

/**
 * Emits observations in the order they were pushed, each once its content is ready (an
 * audit match may still be pending), so a slow match never reorders events or their
 * cursors. Whatever is ready while an emit is in flight goes out as one observation (events
 * in order, the last cursor), so a busy watch costs one commit per batch, not per event.
 * After a failed emit (the source is stopping) the rest is skipped: their cursors were not
 * stored, so the next start replays them.
 */
class OrderedEmitter {
  private readonly queue: Queued[] = [];
  private running: Promise<void> | null = null;
  private failed = false;

  constructor(private readonly emit: (o: Emitted) => Promise<void>) {}

  push(observation: Emitted | Promise<Emitted>): void {
    const entry: Queued = { ready: Promise.resolve() };
    entry.ready = Promise.resolve(observation).then(
      (value) => {
        entry.value = value;
      },
      () => {
        // Cannot happen today (matches resolve, never reject); if it did, stop emitting so
        // the cursor stays before this event and the next start replays it.
        this.failed = true;
        entry.value = { events: [] };
      },
    );
    this.queue.push(entry);
    this.running ??= this.pump();
  }

  async belowHighWater(): Promise<void> {
    while (this.queue.length >= HIGH_WATER && this.running) await this.running;
  }

  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Gives the socket turns of the event loop while each turn brings more events and a batch
   * is not full. One turn hands over one socket read (~20 events of 3 KiB); without this a
   * busy watch committed each read on its own, paying a commit's fixed cost per ~20 events.
   * An idle watch loses one turn: its event finds nothing behind it and goes at once.
   */
  private async whileArriving(): Promise<void> {
    for (let seen = this.queue.length; seen < MAX_BATCH; seen = this.queue.length) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.queue.length === seen) return;
    }
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        await this.queue[0]?.ready;
        await this.whileArriving();
        const batch: Emitted[] = [];
        while (batch.length < MAX_BATCH && this.queue[0]?.value !== undefined)
          batch.push(this.queue.shift()!.value!);
        if (this.failed || batch.length === 0) continue;
        await this.emit(merge(batch)).catch(() => {
          this.failed = true;
        });
      }
    } finally {
      this.running = null;
    }
  }
}

/** One observation of several, in order: all events, the latest position per stream. */
function merge(batch: Emitted[]): Emitted {
  if (batch.length === 1) return batch[0]!;
  return {
    events: batch.flatMap((o) => o.events),
    cursors: Object.assign({}, ...batch.map((o) => o.cursors ?? {})),
  };
}
