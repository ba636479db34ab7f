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

/**
 * Reads each new change from the log once and offers it to every open stream. Streams read
 * their backlog from the log themselves, so nothing is fed from memory alone: memory holds
 * at most `maxBuffered` events per stream.
 */
export class WatchHub {
  readonly options: WatchHubOptions;
  private seq = 0;
  private readonly streams = new Set<WatchStream>();
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

  /** A stream of the changes after `since` that pass `filter`: the backlog, then live. */
  open(filter: ChangeQuery, since: number): WatchStream {
    const stream = new WatchStream(this, filter, since);
    this.streams.add(stream);
    return stream;
  }

  remove(stream: WatchStream, reason: StreamEnd): void {
    if (this.streams.delete(stream)) this.options.onStreamEnd?.(reason);
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
      for (const stream of this.streams) stream.offer(batch);
    }
  }
}

/**
 * One client's stream. It first reads its backlog from the log at the client's pace (the
 * body is pulled as the socket drains), keeping what the hub offers meanwhile; once a read
 * comes back short it sends what it kept (skipping what the backlog already had) and goes
 * live. Live events queue in the body; a client that lets more than `maxBuffered` pile up
 * is cut off with CRW_API_SLOW_SUBSCRIBER and can resume with Last-Event-ID.
 */
export class WatchStream {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private cursor: number;
  private live = false;
  private pending: Change[] = [];
  /** The pending list overflowed and was dropped: the backlog needs another round. */
  private overflowed = false;
  private closed = false;
  private heartbeat: TimerHandle | undefined;

  constructor(
    private readonly hub: WatchHub,
    private readonly filter: ChangeQuery,
    since: number,
  ) {
    this.cursor = since;
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
          // Tells EventSource clients how soon to reconnect; also flushes the headers.
          controller.enqueue(encoder.encode("retry: 2000\n\n"));
        },
        pull: () => this.catchUp(),
        cancel: () => this.end("client"),
      },
      new CountQueuingStrategy({ highWaterMark: hub.options.maxBuffered }),
    );
  }

  /** Changes the hub just read, in seq order. */
  offer(changes: Change[]): void {
    if (this.closed) return;
    if (this.live) {
      this.deliver(changes);
      return;
    }
    this.pending.push(...changes);
    if (this.pending.length > this.hub.options.maxBuffered) {
      this.pending = [];
      this.overflowed = true;
    }
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
      this.controller.error(err);
    } else if (reason !== "client") {
      try {
        this.controller.close();
      } catch {
        // Already closed or errored.
      }
    }
  }

  /** Called while the client has room: reads backlog pages until full or caught up. */
  private async catchUp(): Promise<void> {
    const { log, pageSize = 500 } = this.hub.options;
    while (!this.closed && !this.live && (this.controller.desiredSize ?? 0) > 0) {
      const limit = Math.max(1, Math.min(pageSize, this.controller.desiredSize ?? 1));
      let page: Change[];
      try {
        page = await log.readChanges({ ...this.filter, afterSeq: this.cursor, limit });
      } catch (err) {
        this.hub.options.logger.warn({ err }, "watch: reading the backlog failed");
        this.end("error");
        return;
      }
      for (const change of page) this.send(change);
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
    const kept = this.pending;
    this.pending = [];
    this.deliver(kept);
    this.scheduleHeartbeat();
  }

  private deliver(changes: Change[]): void {
    for (const change of changes) {
      if (this.closed) return;
      if (change.seq <= this.cursor || !matchesChangeQuery(change, this.filter)) continue;
      this.send(change);
      if ((this.controller.desiredSize ?? 0) < 0) {
        this.end("slow");
        return;
      }
    }
  }

  private send(change: Change): void {
    const data = JSON.stringify(change);
    this.controller.enqueue(encoder.encode(`id: ${change.seq}\nevent: change\ndata: ${data}\n\n`));
    this.cursor = change.seq;
  }

  private scheduleHeartbeat(): void {
    const { clock, heartbeatMs } = this.hub.options;
    this.heartbeat = clock.setTimeout(() => {
      if (this.closed) return;
      this.controller.enqueue(encoder.encode(": keep-alive\n\n"));
      if ((this.controller.desiredSize ?? 0) < 0) this.end("slow");
      else this.scheduleHeartbeat();
    }, heartbeatMs);
  }
}
