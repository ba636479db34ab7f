import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Clock, TimerHandle } from "../core/clock.js";
import type { Change } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import { matchesChangeQuery } from "../store/change-query.js";
import type { ChangeLog, ChangeQuery } from "../store/store.js";
import type { CommitNotifier } from "./notifier.js";

export type StreamEnd = "client" | "slow" | "shutdown" | "error";

export interface WatchHubOptions {
  log: ChangeLog;
  notifier: CommitNotifier;
  clock: Clock;
  logger: Logger;
  /** Events a stream may hold for its client before it is cut off. */
  maxBuffered: number;
  heartbeatMs: number;
  /** Changes read from the log per query. */
  pageSize?: number;
  onStreamEnd?: (reason: StreamEnd) => void;
}

const encoder = new TextEncoder();

/** A change with its SSE event bytes, encoded once however many streams send it. */
export interface WatchEvent {
  change: Change;
  bytes: Uint8Array;
}

export function encodeEvent(change: Change): WatchEvent {
  const text = `id: ${change.seq}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`;
  // A Buffer (not TextEncoder's Uint8Array): the socket takes it as is, without a copy.
  return { change, bytes: Buffer.from(text, "utf8") };
}

/**
 * Streams whose filters are equal: a new change is matched against the filter once for all
 * of them, and the same bytes are written to each.
 */
interface FilterClass {
  filter: ChangeQuery;
  live: Set<WatchStream>;
}

/** Equal filters give equal keys (keys sorted, list values sorted). */
export function filterKey(filter: ChangeQuery): string {
  const entries = Object.entries(filter)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, Array.isArray(v) ? [...v].sort() : v] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(entries);
}

/**
 * Reads each new change from the log once and offers it to every open stream. Streams read
 * their backlog from the log themselves, so nothing is fed from memory alone: memory holds
 * at most `maxBuffered` events per stream. Live streams are grouped by filter: each change
 * is encoded once, matched once per distinct filter, and its bytes written to every stream
 * of each matching group, with the writes of one read corked into one write per socket.
 */
export class WatchHub {
  readonly options: WatchHubOptions;
  private seq = 0;
  private readonly streams = new Set<WatchStream>();
  /** Streams still reading their backlog: they keep what the hub reads meanwhile. */
  private readonly catching = new Set<WatchStream>();
  private readonly classes = new Map<string, FilterClass>();
  private unsubscribe: (() => void) | undefined;
  private pumping: Promise<void> | undefined;
  private again = false;

  constructor(options: WatchHubOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    this.seq = await this.options.log.lastSeq();
    this.unsubscribe = this.options.notifier.subscribe(() => this.poke());
  }

  get size(): number {
    return this.streams.size;
  }

  /** Distinct filters among the live streams (what a new change is matched against). */
  get filterClasses(): number {
    return this.classes.size;
  }

  /** A stream of the changes after `since` that pass `filter`: the backlog, then live. */
  open(filter: ChangeQuery, since: number, transport: Transport): WatchStream {
    const stream = new WatchStream(this, filter, filterKey(filter), since, transport);
    this.streams.add(stream);
    this.catching.add(stream);
    transport.attach(stream);
    return stream;
  }

  /** The stream has read its backlog: from now on it gets its group's live changes. */
  promote(stream: WatchStream): void {
    if (!this.catching.delete(stream)) return;
    let group = this.classes.get(stream.key);
    if (!group) {
      group = { filter: stream.filter, live: new Set() };
      this.classes.set(stream.key, group);
    }
    group.live.add(stream);
  }

  remove(stream: WatchStream, reason: StreamEnd): void {
    if (!this.streams.delete(stream)) return;
    this.catching.delete(stream);
    const group = this.classes.get(stream.key);
    if (group?.live.delete(stream) && group.live.size === 0) this.classes.delete(stream.key);
    this.options.onStreamEnd?.(reason);
  }

  /** The log grew: read what is new (one reader, however often it is poked). */
  poke(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = this.pump()
      .catch((err) => this.options.logger.warn({ err }, "watch: reading new changes failed"))
      .finally(() => {
        this.pumping = undefined;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    for (const stream of [...this.streams]) stream.end("shutdown");
    await this.pumping;
  }

  private async pump(): Promise<void> {
    const limit = this.options.pageSize ?? 500;
    for (;;) {
      const batch = await this.options.log.readChanges({ afterSeq: this.seq, limit });
      const last = batch[batch.length - 1];
      if (!last) return;
      this.seq = last.seq;
      if (this.streams.size === 0) continue;
      this.broadcast(batch.map(encodeEvent));
    }
  }

  private broadcast(events: WatchEvent[]): void {
    for (const stream of this.catching) stream.keep(events);
    const corked: WatchStream[] = [];
    for (const group of this.classes.values()) {
      const matched = events.filter((e) => matchesChangeQuery(e.change, group.filter));
      if (matched.length === 0) continue;
      // Several events for one socket: corked, they leave in one write when uncorked.
      const cork = matched.length > 1;
      // A stream cut off as slow leaves the set while we walk it, which a Set allows.
      for (const stream of group.live) {
        if (cork && stream.cork()) corked.push(stream);
        stream.deliver(matched);
      }
    }
    for (const stream of corked) stream.uncork();
  }
}

/**
 * Where a stream's bytes go: a web ReadableStream (in-process requests) or the Node
 * response itself (a real socket, without web-stream overhead per event).
 */
export interface Transport {
  /** Called once: the transport calls `stream.catchUp()` whenever the client has room. */
  attach(stream: WatchStream): void;
  write(bytes: Uint8Array): void;
  /** Holds writes until `uncork` (one system call for several events); false: not supported. */
  cork?(): boolean;
  uncork?(): void;
  /** Events the client can still take before it counts as behind; negative: over the limit. */
  room(): number;
  close(): void;
  fail(err: Error): void;
}

const KEEP_ALIVE = encoder.encode(": keep-alive\n\n");
const RETRY_HINT = encoder.encode("retry: 2000\n\n");

/** A pull-based body whose queue holds at most `maxBuffered` events. */
export class WebTransport implements Transport {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private stream: WatchStream | undefined;

  constructor(maxBuffered: number) {
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
          // Tells EventSource clients how soon to reconnect; also flushes the headers.
          controller.enqueue(RETRY_HINT);
        },
        pull: () => this.stream?.catchUp(),
        cancel: () => this.stream?.end("client"),
      },
      new CountQueuingStrategy({ highWaterMark: maxBuffered }),
    );
  }

  attach(stream: WatchStream): void {
    this.stream = stream;
    void stream.catchUp();
  }

  write(bytes: Uint8Array): void {
    this.controller.enqueue(bytes);
  }

  room(): number {
    return this.controller.desiredSize ?? 0;
  }

  close(): void {
    try {
      this.controller.close();
    } catch {
      // Already closed or errored.
    }
  }

  fail(err: Error): void {
    this.controller.error(err);
  }
}

/**
 * Writes to the Node response. What the socket and its 16 KiB buffer cannot take yet counts
 * as queued (events written while the response needs a drain), up to `maxBuffered`.
 */
export class NodeTransport implements Transport {
  private queued = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBuffered: number,
  ) {
    // Without chunked framing the body ends where the connection does (RFC 9112 §6.3), as a
    // watch stream does anyway; each event is then one plain socket write, where a chunk
    // costs a corked three-part writev (size line, bytes, CRLF) per event per subscriber.
    res.removeHeader("Transfer-Encoding");
    res.shouldKeepAlive = false;
    res.writeHead(200, SSE_HEADERS);
    res.write(RETRY_HINT);
  }

  attach(stream: WatchStream): void {
    this.res.on("drain", () => {
      this.queued = 0;
      void stream.catchUp();
    });
    this.res.on("close", () => stream.end("client"));
    void stream.catchUp();
  }

  write(bytes: Uint8Array): void {
    if (this.res.writableNeedDrain) this.queued++;
    this.res.write(bytes);
  }

  cork(): boolean {
    this.res.cork();
    return true;
  }

  uncork(): void {
    this.res.uncork();
  }

  room(): number {
    return this.res.writableNeedDrain ? this.maxBuffered - this.queued : this.maxBuffered;
  }

  close(): void {
    this.res.end();
  }

  fail(_err: Error): void {
    this.res.destroy();
  }
}

export const SSE_HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache",
  "X-Accel-Buffering": "no",
};

/**
 * One client's stream. It first reads its backlog from the log at the client's pace
 * (`catchUp` runs while the transport has room), keeping what the hub offers meanwhile; once
 * a read comes back short it sends what it kept (skipping what the backlog already had) and
 * joins its filter's group of live streams. A client that lets more than `maxBuffered` live
 * events pile up is cut off with CRW_API_SLOW_SUBSCRIBER and can resume with Last-Event-ID.
 */
export class WatchStream {
  private cursor: number;
  private live = false;
  private pending: WatchEvent[] = [];
  /** The pending list overflowed and was dropped: the backlog needs another round. */
  private overflowed = false;
  private closed = false;
  private catchingUp = false;
  private heartbeat: TimerHandle | undefined;

  constructor(
    private readonly hub: WatchHub,
    readonly filter: ChangeQuery,
    /** `filterKey(filter)`: which group of live streams it joins. */
    readonly key: string,
    since: number,
    private readonly transport: Transport,
  ) {
    this.cursor = since;
  }

  /** While reading the backlog: what the hub just read, in seq order, sent once live. */
  keep(events: WatchEvent[]): void {
    if (this.closed || this.live) return;
    for (const event of events) this.pending.push(event);
    if (this.pending.length > this.hub.options.maxBuffered) {
      this.pending = [];
      this.overflowed = true;
    }
  }

  /** Live events that pass this stream's filter, in seq order. */
  deliver(events: WatchEvent[]): void {
    for (const event of events) {
      if (this.closed) return;
      if (event.change.seq <= this.cursor) continue;
      this.send(event);
      if (this.transport.room() < 0) {
        this.end("slow");
        return;
      }
    }
  }

  cork(): boolean {
    return this.transport.cork?.() ?? false;
  }

  uncork(): void {
    this.transport.uncork?.();
  }

  end(reason: StreamEnd): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.options.clock.clearTimeout(this.heartbeat);
    this.pending = [];
    this.hub.remove(this, reason);
    if (reason === "slow") {
      const err = new CrwatchError(
        "CRW_API_SLOW_SUBSCRIBER",
        `watch client fell more than ${this.hub.options.maxBuffered} events behind`,
      );
      this.transport.fail(err);
    } else if (reason !== "client") {
      this.transport.close();
    }
  }

  /** Called while the client has room: reads backlog pages until full or caught up. */
  async catchUp(): Promise<void> {
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      await this.readBacklog();
    } finally {
      this.catchingUp = false;
    }
  }

  private async readBacklog(): Promise<void> {
    const { log, pageSize = 500 } = this.hub.options;
    while (!this.closed && !this.live && this.transport.room() > 0) {
      const limit = Math.max(1, Math.min(pageSize, this.transport.room()));
      let page: Change[];
      try {
        page = await log.readChanges({ ...this.filter, afterSeq: this.cursor, limit });
      } catch (err) {
        this.hub.options.logger.warn({ err }, "watch: reading the backlog failed");
        this.end("error");
        return;
      }
      for (const change of page) this.send(encodeEvent(change));
      if (page.length === limit) continue;
      if (this.overflowed) {
        this.overflowed = false;
        continue;
      }
      this.goLive();
    }
  }

  private goLive(): void {
    this.live = true;
    const kept = this.pending.filter((e) => matchesChangeQuery(e.change, this.filter));
    this.pending = [];
    this.hub.promote(this);
    this.deliver(kept);
    if (!this.closed) this.scheduleHeartbeat();
  }

  private send(event: WatchEvent): void {
    this.transport.write(event.bytes);
    this.cursor = event.change.seq;
  }

  private scheduleHeartbeat(): void {
    const { clock, heartbeatMs } = this.hub.options;
    this.heartbeat = clock.setTimeout(() => {
      if (this.closed) return;
      this.transport.write(KEEP_ALIVE);
      if (this.transport.room() < 0) this.end("slow");
      else this.scheduleHeartbeat();
    }, heartbeatMs);
  }
}
