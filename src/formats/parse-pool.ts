import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { sha256Hex } from "../core/stable-json.js";
import { CrwatchError } from "../model/errors.js";
import { isJsonPath, type ParseFileRequest, parseFile, type TimedParse } from "./parse-file.js";
import type { WorkerReply, WorkerTask } from "./parse-worker.js";

export interface ParsePoolOptions {
  /** Worker threads at most; default os.availableParallelism(). */
  size?: number;
  /**
   * Files smaller than this are parsed on the calling thread, where the round trip to a
   * worker (0.05–0.1 ms) would cost about what it saves: YAML parses at about 1 ms per KiB,
   * JSON.parse some 30 times faster (measured in decision 0026). Default INLINE_BELOW_BYTES.
   */
  inlineBelowBytes?: { yaml: number; json: number };
  /** Old-space heap of each worker: a hostile file exhausts this, not the process's heap. */
  maxWorkerHeapMb?: number;
}

/** See ParsePoolOptions.inlineBelowBytes. */
export const INLINE_BELOW_BYTES = { yaml: 128, json: 16 * 1024 } as const;
const DEFAULT_WORKER_HEAP_MB = 1024;
const WORKER_URL = new URL("./parse-worker.js", import.meta.url);

interface Task {
  id: number;
  request: ParseFileRequest;
  resolve: (result: TimedParse) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
}

interface Slot {
  worker: Worker;
  task: Task | undefined;
}

/**
 * Parses files in `node:worker_threads` workers, so a big file never holds up the event loop
 * (other files' changes, a stop). One file per worker at a time, so a crash (an exception
 * the parser does not catch, running out of heap) is that file's problem (CRW_PARSE_FAILED)
 * and the worker is replaced. Idle workers are unref'd: the pool never keeps a process alive.
 * Results come back by structured clone; callers keep per-file order themselves.
 */
export class ParsePool {
  readonly size: number;
  private readonly inlineBelowBytes: { yaml: number; json: number };
  private readonly maxWorkerHeapMb: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  private crashes = 0;
  /** Tasks by the signal that may abort them; a WeakMap lets a finished run's signal go. */
  private readonly bySignal = new WeakMap<AbortSignal, Set<Task>>();

  constructor(options: ParsePoolOptions = {}) {
    this.size = Math.max(1, options.size ?? availableParallelism());
    this.inlineBelowBytes = options.inlineBelowBytes ?? INLINE_BELOW_BYTES;
    this.maxWorkerHeapMb = options.maxWorkerHeapMb ?? DEFAULT_WORKER_HEAP_MB;
  }

  /** Parses one file; rejects only when `signal` aborts (or the pool was closed). */
  parse(request: ParseFileRequest, signal?: AbortSignal): Promise<TimedParse> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.closed) return Promise.reject(closedError());
    const inline = this.inlineBelowBytes[isJsonPath(request.relPath) ? "json" : "yaml"];
    if (request.bytes.length < inline) return Promise.resolve(parseFile(request));
    return new Promise((resolve, reject) => {
      const task: Task = {
        id: this.nextId++,
        request,
        resolve,
        reject,
        signal,
      };
      if (signal) this.watch(signal, task);
      this.queue.push(task);
      this.dispatch();
    });
  }

  /** Workers started and replaced so far, and tasks waiting (for tests and the debug log). */
  stats(): { workers: number; busy: number; queued: number; crashes: number } {
    const busy = this.slots.filter((s) => s.task).length;
    return { workers: this.slots.length, busy, queued: this.queue.length, crashes: this.crashes };
  }

  /** Stops every worker; waiting and running parses reject. */
  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) this.settle(task, () => task.reject(closedError()));
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      const task = slot.task;
      slot.task = undefined;
      if (task) this.settle(task, () => task.reject(closedError()));
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      const slot = this.slots.find((s) => !s.task) ?? this.spawn();
      if (!slot) return;
      const task = this.queue.shift()!;
      slot.task = task;
      slot.worker.ref();
      const message: WorkerTask = {
        id: task.id,
        request: { ...task.request, bytes: own(task.request.bytes) },
      };
      slot.worker.postMessage(message);
    }
  }

  private spawn(): Slot | undefined {
    if (this.slots.length >= this.size) return undefined;
    const worker = new Worker(WORKER_URL, {
      // A worker takes the process's flags, but one that only applies to `-e` text stops it.
      execArgv: process.execArgv.filter((flag) => !flag.startsWith("--input-type")),
      resourceLimits: { maxOldGenerationSizeMb: this.maxWorkerHeapMb },
    });
    const slot: Slot = { worker, task: undefined };
    worker.on("message", (reply: WorkerReply) => this.onReply(slot, reply));
    worker.on("error", (err) => this.onCrash(slot, err));
    worker.on("exit", (code) => this.onCrash(slot, new Error(`the worker exited (code ${code})`)));
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    const task = slot.task;
    if (!task || task.id !== reply.id) return;
    slot.task = undefined;
    slot.worker.unref();
    if ("result" in reply) this.settle(task, () => task.resolve(reply.result));
    else this.settle(task, () => task.resolve(failed(task.request, reply.error)));
    this.dispatch();
  }

  /** A worker died: the file it held is a problem, and a new worker takes the queue. */
  private onCrash(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i === -1) return; // already gone (terminated on purpose, or error then exit)
    this.slots.splice(i, 1);
    this.crashes++;
    const task = slot.task;
    slot.task = undefined;
    if (task) this.settle(task, () => task.resolve(failed(task.request, crashReason(err))));
    this.dispatch();
  }

  /** A parse nobody waits for any more: dequeue it, or stop the worker that runs it. */
  private abort(task: Task): void {
    const queued = this.queue.indexOf(task);
    if (queued !== -1) this.queue.splice(queued, 1);
    const slot = this.slots.find((s) => s.task === task);
    if (slot) {
      this.slots.splice(this.slots.indexOf(slot), 1);
      slot.task = undefined;
      void slot.worker.terminate();
    }
    this.settle(task, () => task.reject(abortReason(task.signal!)));
    this.dispatch();
  }

  /** One abort listener per signal, whatever the number of its tasks (a walk queues hundreds). */
  private watch(signal: AbortSignal, task: Task): void {
    let tasks = this.bySignal.get(signal);
    if (!tasks) {
      const set = new Set<Task>();
      tasks = set;
      this.bySignal.set(signal, set);
      signal.addEventListener(
        "abort",
        () => {
          this.bySignal.delete(signal);
          for (const t of [...set]) this.abort(t);
        },
        { once: true },
      );
    }
    tasks.add(task);
  }

  private settle(task: Task, done: () => void): void {
    if (task.signal) this.bySignal.get(task.signal)?.delete(task);
    done();
  }
}

let shared: ParsePool | undefined;

/** The process's pool, started on first use; sources share it (threads = cores, not per source). */
export function sharedParsePool(): ParsePool {
  shared ??= new ParsePool();
  return shared;
}

/**
 * The bytes alone: structured clone copies a view's whole ArrayBuffer, and a small Buffer is
 * a view into a shared 8 KiB slab.
 */
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : new Uint8Array(bytes);
}

function crashReason(err: Error): string {
  const code = (err as { code?: string }).code;
  if (code === "ERR_WORKER_OUT_OF_MEMORY") return "the parser ran out of memory";
  return `the parser crashed: ${err.message.split("\n", 1)[0]}`;
}

function failed(request: ParseFileRequest, reason: string): TimedParse {
  const bytes = Buffer.from(request.bytes.buffer, request.bytes.byteOffset, request.bytes.length);
  return {
    status: "unreadable",
    problems: [
      {
        code: "CRW_PARSE_FAILED",
        message: `${reason} on this file (${bytes.length} bytes); not read`,
        location: { path: request.location },
        fingerprint: `${sha256Hex(bytes)}:CRW_PARSE_FAILED`,
      },
    ],
    contentHash: sha256Hex(bytes),
    parseMs: 0,
  };
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("the parse was aborted", "AbortError");
}

function closedError(): CrwatchError {
  return new CrwatchError("CRW_PARSE_FAILED", "the parse pool was closed");
}
