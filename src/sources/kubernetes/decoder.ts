import type { Worker } from "node:worker_threads";
import { startWorker } from "../../formats/start-worker.js";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import {
  type DecodedEvent,
  type DecodedList,
  type DecodeStream,
  decodeEvents,
  decodeList,
  toCrwatchError,
} from "./decode.js";
import { type DecodeAnswer, decodeEventsReply, decodeListReply } from "./decode-wire.js";
import type { DecodeTask } from "./decode-worker.js";

export interface DecoderOptions {
  /**
   * Bodies and batches of lines smaller than this are decoded on the calling thread, where a
   * round trip to the worker would cost about what it saves (an idle watch's single event).
   * Default INLINE_BELOW_BYTES.
   */
  inlineBelowBytes?: number;
  /** Old-space heap of the worker: a hostile page exhausts this, not the process's heap. */
  maxWorkerHeapMb?: number;
}

/** About 16 objects of 2 KiB. */
export const INLINE_BELOW_BYTES = 32 * 1024;
const DEFAULT_WORKER_HEAP_MB = 1024;
const WORKER_URL = new URL("./decode-worker.js", import.meta.url);

interface Pending {
  resolve: (answer: DecodeAnswer) => void;
  reject: (err: unknown) => void;
}

type Task = DecodeTask extends infer T ? (T extends { id: number } ? Omit<T, "id"> : never) : never;

/**
 * Decodes list pages and watch lines into items that carry their object as JSON text, in
 * one worker thread (decision 0034): parsing a 500-object page took the source's thread
 * some 20 µs per object, and that thread is the one ingest and the store commit on. The
 * worker answers in order; it is started on first use and unref'd while idle, so it never
 * keeps a process alive. A worker that dies (out of heap on a hostile page) fails what it
 * held with CRW_K8S_STREAM, which the kind's supervisor retries with backoff; the next
 * task starts a new worker.
 */
export class KubeDecoder {
  private readonly inlineBelowBytes: number;
  private readonly maxWorkerHeapMb: number;
  private worker: Worker | undefined;
  /** Why no worker could start: decoding then stays on the calling thread. */
  private unavailable: string | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(options: DecoderOptions = {}) {
    this.inlineBelowBytes = options.inlineBelowBytes ?? INLINE_BELOW_BYTES;
    this.maxWorkerHeapMb = options.maxWorkerHeapMb ?? DEFAULT_WORKER_HEAP_MB;
  }

  /** A list page's body; throws CRW_K8S_HTTP when it is not JSON, CRW_K8S_STREAM for a nameless item. */
  async list(stream: DecodeStream, path: string, body: Uint8Array): Promise<DecodedList> {
    if (body.length < this.inlineBelowBytes || !this.canStart())
      return decodeList(
        stream,
        path,
        Buffer.from(body.buffer, body.byteOffset, body.length).toString("utf8"),
      );
    // The body is moved to the worker, not copied.
    const answer = await this.send({ op: "list", stream, path, body }, [
      body.buffer as ArrayBuffer,
    ]);
    if ("error" in answer) throw toCrwatchError(answer.error);
    return decodeListReply(answer);
  }

  /** Watch lines, each decoded or a `bad` entry in its place. */
  async events(stream: DecodeStream, lines: string[]): Promise<DecodedEvent[]> {
    let size = 0;
    for (const line of lines) size += line.length;
    if (size < this.inlineBelowBytes || !this.canStart()) return decodeEvents(stream, lines);
    const answer = await this.send({ op: "events", stream, lines }, []);
    if ("error" in answer) throw toCrwatchError(answer.error);
    return decodeEventsReply(answer);
  }

  /** Stops the worker; tasks it held fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.fail(worker, new Error("the decoder was closed"));
    await worker.terminate();
  }

  /** Whether a worker runs or can be started (a failure to start is kept: inline from then on). */
  private canStart(): boolean {
    if (this.unavailable !== undefined) return false;
    try {
      this.started();
      return true;
    } catch (err) {
      this.unavailable = errorMessage(err);
      return false;
    }
  }

  private send(task: Task, transfer: ArrayBuffer[]): Promise<DecodeAnswer> {
    const worker = this.started();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...task, id }, transfer);
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker(WORKER_URL, this.maxWorkerHeapMb);
    worker.unref();
    worker.on("message", (answer: DecodeAnswer) => {
      const waiting = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      if (this.pending.size === 0) worker.unref();
      waiting?.resolve(answer);
    });
    worker.on("error", (err) => this.fail(worker, err));
    worker.on("exit", (code) => this.fail(worker, new Error(`it exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private fail(worker: Worker, err: unknown): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const reason = new CrwatchError(
      "CRW_K8S_STREAM",
      `the Kubernetes decode worker stopped: ${errorMessage(err)}`,
      { cause: err },
    );
    for (const waiting of this.pending.values()) waiting.reject(reason);
    this.pending.clear();
  }
}

let shared: KubeDecoder | undefined;

/** The process's decoder, started on first use; every Kubernetes source shares its one worker. */
export function sharedKubeDecoder(): KubeDecoder {
  shared ??= new KubeDecoder();
  return shared;
}
