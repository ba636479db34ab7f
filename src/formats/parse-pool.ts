import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { sha256Hex } from "../core/stable-json.js";
import { CrwatchError, errorMessage } from "../model/errors.js";
import { isJsonPath, type ParseFileRequest, parseFile, type TimedParse } from "./parse-file.js";
import { decodeTextAnswer } from "./parse-wire.js";
import type { WorkerAnswer, WorkerReply, WorkerTask } from "./parse-worker.js";

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
  /**
   * Small files (below `bytes`) sent to one worker before it answers, at most `depth`: the
   * worker goes from one to the next without waiting for this thread to hand it more, which
   * a busy event loop (a commit, a collection) would make it do. Default PIPELINE.
   */
  pipeline?: { depth: number; bytes: number };
}

/** See ParsePoolOptions.inlineBelowBytes. */
export const INLINE_BELOW_BYTES = { yaml: 128, json: 16 * 1024 } as const;
/** See ParsePoolOptions.pipeline: a manifest parses in a fraction of a millisecond. */
export const PIPELINE = { depth: 16, bytes: 64 * 1024 } as const;
const DEFAULT_WORKER_HEAP_MB = 1024;
const WORKER_URL = new URL("./parse-worker.js", import.meta.url);

interface Task {
  id: number;
  request: ParseFileRequest;
  resolve: (result: TimedParse) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  /** Was on a worker that crashed with others: goes again, to a worker of its own. */
  alone?: boolean;
}

interface Slot {
  worker: Worker;
  /** Sent and not yet answered, in the order sent (a worker answers in that order). */
  tasks: Task[];
}

/**
 * Parses files in `node:worker_threads` workers, so a big file never holds up the event loop
 * (other files' changes, a stop). A big file goes to a worker with nothing else to do; small
 * ones are pipelined, several to a worker (PIPELINE). A crash (an exception the parser does
 * not catch, running out of heap) is one file's problem (CRW_PARSE_FAILED) and the worker is
 * replaced: when the worker held several files, each goes again to a worker of its own, so
 * the one that crashes it alone is the one reported. Idle workers are unref'd: the pool
 * never keeps a process alive. Results come back by structured clone; callers keep per-file
 * order themselves.
 */
export class ParsePool {
  readonly size: number;
  private readonly inlineBelowBytes: { yaml: number; json: number };
  private readonly maxWorkerHeapMb: number;
  private readonly pipeline: { depth: number; bytes: number };
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  private dispatchPending = false;
  private crashes = 0;
  /** Tasks by the signal that may abort them; a WeakMap lets a finished run's signal go. */
  private readonly bySignal = new WeakMap<AbortSignal, Set<Task>>();

  constructor(options: ParsePoolOptions = {}) {
    this.size = Math.max(1, options.size ?? availableParallelism());
    this.inlineBelowBytes = options.inlineBelowBytes ?? INLINE_BELOW_BYTES;
    this.maxWorkerHeapMb = options.maxWorkerHeapMb ?? DEFAULT_WORKER_HEAP_MB;
    this.pipeline = options.pipeline ?? PIPELINE;
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
      this.dispatchSoon();
    });
  }

  /**
   * Dispatches once this turn of the event loop is done, so files asked for together (the
   * blobs of one read from git, a directory's files) go out in shared messages.
   */
  private dispatchSoon(): void {
    if (this.dispatchPending) return;
    this.dispatchPending = true;
    setImmediate(() => {
      this.dispatchPending = false;
      this.dispatch();
    });
  }

  /** Workers started and replaced so far, and tasks waiting (for tests and the debug log). */
  stats(): { workers: number; busy: number; queued: number; crashes: number } {
    const busy = this.slots.filter((s) => s.tasks.length > 0).length;
    return { workers: this.slots.length, busy, queued: this.queue.length, crashes: this.crashes };
  }

  /**
   * Starts the workers now rather than at the first parse: a worker takes 50–100 ms to load
   * its modules, which a caller that is about to ask for many parses (a Git import, after
   * its fetch) can overlap with its own start. Idle workers keep no process alive.
   */
  warm(): void {
    if (this.closed) return;
    try {
      while (this.slots.length < this.size && this.spawn());
    } catch {
      // The first parse starts them again and reports why they cannot start (dispatch).
    }
  }

  /** Stops every worker; waiting and running parses reject. */
  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) this.settle(task, () => task.reject(closedError()));
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      for (const task of slot.tasks.splice(0)) this.settle(task, () => task.reject(closedError()));
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /**
   * Sends queued files to workers. Small files go several to a message (one message and one
   * answer per batch, not per file: each costs this thread a wake-up of another), the queue
   * shared evenly among the workers.
   */
  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      const first = this.queue[0]!;
      let slot: Slot | undefined;
      try {
        slot = this.slotFor(first);
      } catch (err) {
        // No worker can start: every waiting file is a problem, never a crash of the process.
        const reason = `the parser could not start: ${errorMessage(err)}`;
        for (const task of this.queue.splice(0)) {
          this.settle(task, () => task.resolve(failed(task.request, reason)));
        }
        return;
      }
      if (!slot) return;
      const share = Math.ceil(this.queue.length / this.size);
      const room = Math.min(share, this.pipeline.depth - slot.tasks.length);
      let n = 1;
      if (this.pipelined(first)) while (n < room && this.pipelined(this.queue[n])) n++;
      const batch = this.queue.splice(0, n);
      slot.tasks.push(...batch);
      slot.worker.ref();
      // A copy of each file's bytes, moved to the worker rather than cloned: the caller's
      // bytes stay its own (a crash report hashes them), and only the bytes are copied.
      const message: WorkerTask[] = batch.map((task) => ({
        id: task.id,
        request: { ...task.request, bytes: new Uint8Array(task.request.bytes) },
      }));
      slot.worker.postMessage(
        message,
        message.map((m) => m.request.bytes.buffer as ArrayBuffer),
      );
    }
  }

  /** A file that may share a worker with others: small, and not back from a crash. */
  private pipelined(task: Task | undefined): boolean {
    return task !== undefined && !task.alone && this.small(task);
  }

  /**
   * An idle worker (started if there is room), else, for a small file, the least busy
   * worker that holds only small files and fewer than the pipeline's depth.
   */
  private slotFor(task: Task): Slot | undefined {
    const idle = this.slots.find((s) => s.tasks.length === 0) ?? this.spawn();
    if (idle || !this.pipelined(task)) return idle;
    let best: Slot | undefined;
    for (const slot of this.slots) {
      if (slot.tasks.length >= this.pipeline.depth) continue;
      if (!slot.tasks.every((t) => this.pipelined(t))) continue;
      if (!best || slot.tasks.length < best.tasks.length) best = slot;
    }
    return best;
  }

  private small(task: Task): boolean {
    return task.request.bytes.length < this.pipeline.bytes;
  }

  private spawn(): Slot | undefined {
    if (this.slots.length >= this.size) return undefined;
    const worker = this.newWorker();
    const slot: Slot = { worker, tasks: [] };
    worker.on("message", (answer: WorkerAnswer) =>
      this.onReplies(slot, Array.isArray(answer) ? answer : decodeTextAnswer(answer)),
    );
    worker.on("error", (err) => this.onCrash(slot, err));
    worker.on("exit", (code) => this.onCrash(slot, new Error(`the worker exited (code ${code})`)));
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  /**
   * A worker takes the process's flags, but not one that only applies to `-e` text, nor the
   * V8 flags a worker refuses (`node --max-old-space-size=… crwatch`: its heap is set by
   * resourceLimits): Node names those in its error, and they are left out.
   */
  private newWorker(): Worker {
    const options = (execArgv: string[]) => ({
      execArgv,
      resourceLimits: { maxOldGenerationSizeMb: this.maxWorkerHeapMb },
    });
    const execArgv = process.execArgv.filter((flag) => !flag.startsWith("--input-type"));
    try {
      return new Worker(WORKER_URL, options(execArgv));
    } catch (err) {
      if ((err as { code?: string }).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw err;
      const refused = new Set(errorMessage(err).split(": ").slice(1).join(": ").split(/,\s*/));
      return new Worker(WORKER_URL, options(execArgv.filter((flag) => !refused.has(flag))));
    }
  }

  private onReplies(slot: Slot, replies: WorkerReply[]): void {
    for (const reply of replies) {
      const at = slot.tasks.findIndex((t) => t.id === reply.id);
      if (at === -1) continue;
      const task = slot.tasks.splice(at, 1)[0]!;
      if ("result" in reply) this.settle(task, () => task.resolve(reply.result));
      else this.settle(task, () => task.resolve(failed(task.request, reply.error)));
    }
    if (slot.tasks.length === 0) slot.worker.unref();
    this.dispatch();
  }

  /**
   * A worker died: the file it held alone is a problem; files it held together go again,
   * each to a worker of its own (first in the queue, in their order). A new worker takes
   * the queue.
   */
  private onCrash(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i === -1) return; // already gone (terminated on purpose, or error then exit)
    this.slots.splice(i, 1);
    this.crashes++;
    const tasks = slot.tasks.splice(0);
    if (tasks.length === 1) {
      const task = tasks[0]!;
      this.settle(task, () => task.resolve(failed(task.request, crashReason(err))));
    } else {
      for (const task of tasks) task.alone = true;
      this.queue.unshift(...tasks);
    }
    this.dispatch();
  }

  /**
   * A parse nobody waits for any more: dequeue it, or stop the worker that runs it (the other
   * files sent to that worker go back to the front of the queue).
   */
  private abort(task: Task): void {
    const queued = this.queue.indexOf(task);
    if (queued !== -1) this.queue.splice(queued, 1);
    const slot = this.slots.find((s) => s.tasks.includes(task));
    if (slot) {
      this.slots.splice(this.slots.indexOf(slot), 1);
      const others = slot.tasks.splice(0).filter((t) => t !== task);
      this.queue.unshift(...others);
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
