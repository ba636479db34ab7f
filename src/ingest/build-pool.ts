import { setImmediate as nextTurn } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { CrwatchError } from "../model/errors.js";
import { type Kernel, runUpserts, type UpsertJob, type UpsertResult } from "./build-kernel.js";
import { decodeResults, encodeJobs, type WireReply } from "./build-wire.js";

/** Runs a batch's upsert jobs; results come back in the jobs' order. */
export interface UpsertRunner {
  run(jobs: UpsertJob[]): Promise<UpsertResult[]>;
  close(): Promise<void>;
}

/** Jobs an inline build runs between two turns of the event loop (a few ms of CPU). */
const INLINE_SLICE = 32;

/**
 * In the ingest thread: one core, and the only choice when rules are a function (tests, lint).
 * The build runs in slices with a turn of the event loop between them, so a commit in flight
 * (PostgreSQL: mostly waiting on the server) reads its replies and sends its next
 * statement while the next batch builds, instead of after it. Decision 0032.
 */
export class InlineRunner implements UpsertRunner {
  constructor(private readonly kernel: Kernel) {}

  async run(jobs: UpsertJob[]): Promise<UpsertResult[]> {
    const results: UpsertResult[] = new Array(jobs.length);
    let first = true;
    for (const slice of slicesByRef(jobs, INLINE_SLICE)) {
      // Not before the first: a small batch (one slice, the usual case when idle) is built
      // at once, with no turn of latency.
      if (!first) await nextTurn();
      first = false;
      const part = runUpserts(
        this.kernel,
        slice.map((i) => jobs[i] as UpsertJob),
      );
      for (let k = 0; k < slice.length; k++) results[slice[k] as number] = part[k] as UpsertResult;
    }
    return results;
  }

  async close(): Promise<void> {}
}

/** What a build worker is started with: enough to build the same kernel as the ingest thread. */
export interface WorkerSpec {
  /** The worker's entry module (the composition root builds the kernel from `data`). */
  url: URL;
  /** Structured-cloneable: the mask key, canonicalize options, the rules' config. */
  data: unknown;
  size: number;
}

type Reply = WireReply | { id: number; error: string };

/** Below this many jobs a batch is cheaper to run here than to copy to a worker. */
const INLINE_BELOW = 8;

/**
 * Build workers, each owning the refs whose key hashes to it, so one ref's jobs always run
 * in one place and in order. A worker that dies fails the batch in flight (ingest retries
 * it like any failed commit) and is replaced.
 */
export class WorkerRunner implements UpsertRunner {
  private readonly workers: (Worker | null)[];
  private readonly waiting = new Map<
    number,
    { resolve: (r: UpsertResult[]) => void; reject: (e: Error) => void; index: number }
  >();
  /** Requests in flight per worker: a busy worker keeps the process alive, an idle one not. */
  private readonly busy: number[];
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly spec: WorkerSpec,
    private readonly inline: InlineRunner,
  ) {
    this.workers = Array.from({ length: Math.max(1, spec.size) }, () => null);
    this.busy = this.workers.map(() => 0);
  }

  async run(jobs: UpsertJob[]): Promise<UpsertResult[]> {
    if (jobs.length < INLINE_BELOW) return this.inline.run(jobs);
    const shards = this.workers.map(() => [] as number[]);
    for (let i = 0; i < jobs.length; i++) {
      shards[shardOf((jobs[i] as UpsertJob).key, shards.length)]?.push(i);
    }
    const results: UpsertResult[] = new Array(jobs.length);
    await Promise.all(
      shards.map(async (indexes, w) => {
        if (indexes.length === 0) return;
        const part = await this.send(
          w,
          indexes.map((i) => jobs[i] as UpsertJob),
        );
        for (let k = 0; k < indexes.length; k++)
          results[indexes[k] as number] = part[k] as UpsertResult;
      }),
    );
    return results;
  }

  async close(): Promise<void> {
    this.closed = true;
    const running = this.workers.filter((w): w is Worker => w !== null);
    this.workers.fill(null);
    await Promise.all(running.map((w) => w.terminate()));
  }

  private send(index: number, jobs: UpsertJob[]): Promise<UpsertResult[]> {
    const worker = this.worker(index);
    const id = this.nextId++;
    this.busy[index] = (this.busy[index] ?? 0) + 1;
    if (this.busy[index] === 1) worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, index });
      worker.postMessage(encodeJobs(id, jobs));
    });
  }

  private worker(index: number): Worker {
    const existing = this.workers[index];
    if (existing) return existing;
    if (this.closed) throw new CrwatchError("CRW_BUILD_WORKER", "build workers are closed");
    const worker = new Worker(this.spec.url, { workerData: this.spec.data });
    // Idle workers must not keep a finished process alive.
    worker.unref();
    worker.on("message", (reply: Reply) => this.settle(reply));
    const fail = (reason: string) => {
      if (this.workers[index] === worker) this.workers[index] = null;
      this.busy[index] = 0;
      for (const [id, w] of this.waiting) {
        this.waiting.delete(id);
        w.reject(new CrwatchError("CRW_BUILD_WORKER", `build worker ${index} ${reason}`));
      }
    };
    worker.on("error", (err) => fail(`failed: ${err.message}`));
    worker.on("exit", (code) => fail(`exited with code ${code}`));
    this.workers[index] = worker;
    return worker;
  }

  private settle(reply: Reply): void {
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    const index = waiter.index;
    this.busy[index] = (this.busy[index] ?? 1) - 1;
    if (this.busy[index] === 0) this.workers[index]?.unref();
    if ("error" in reply) waiter.reject(new CrwatchError("CRW_BUILD_WORKER", reply.error));
    else waiter.resolve(decodeResults(reply));
  }
}

/**
 * Job indexes in slices of about `size`, in order, with every job of one ref in the slice of
 * its first (runUpserts follows a ref from one job to the next only within one call).
 */
export function slicesByRef(jobs: readonly UpsertJob[], size: number): number[][] {
  const slices: number[][] = [];
  const sliceOf = new Map<string, number[]>();
  let open: number[] | null = null;
  for (let i = 0; i < jobs.length; i++) {
    const key = (jobs[i] as UpsertJob).key;
    let slice = sliceOf.get(key);
    if (!slice) {
      if (!open || open.length >= size) {
        open = [];
        slices.push(open);
      }
      slice = open;
      sliceOf.set(key, slice);
    }
    slice.push(i);
  }
  return slices;
}

/** FNV-1a of the ref key: cheap, and stable across runs (not that it needs to be). */
function shardOf(key: string, count: number): number {
  if (count === 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}
