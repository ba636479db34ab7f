import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import pino from "pino";
import { FakeClock } from "../core/clock.js";
import type { Observation } from "../model/observation.js";
import { type RuntimeHealth, SourceRuntime, type SourceRuntimeDeps } from "./runtime.js";
import type { Source, SourceContext } from "./source.js";

/** A source whose run the test scripts: `script(ctx, signal, attempt)` per run. */
function scripted(
  name: string,
  script: (ctx: SourceContext, signal: AbortSignal, run: number) => Promise<void>,
): Source & { runs: number } {
  const source = {
    name,
    type: "test",
    runs: 0,
    async run(ctx: SourceContext, signal: AbortSignal) {
      source.runs += 1;
      await script(ctx, signal, source.runs);
    },
  };
  return source;
}

/** Waits for the signal: what a healthy long-running source does. */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

describe("SourceRuntime", () => {
  const runtimes: SourceRuntime[] = [];
  afterEach(async () => {
    for (const r of runtimes.splice(0)) await r.stop(0);
  });

  function harness(
    sources: Source[],
    over: Partial<SourceRuntimeDeps> = {},
  ): {
    runtime: SourceRuntime;
    clock: FakeClock;
    health: RuntimeHealth[];
    committed: Observation[];
  } {
    const clock = new FakeClock();
    const health: RuntimeHealth[] = [];
    const committed: Observation[] = [];
    const runtime = new SourceRuntime(sources, {
      commit: async (o) => {
        committed.push(o);
      },
      loadCursors: async () => ({ default: "stored" }),
      onHealth: (h) => health.push(h),
      log: pino({ level: "silent" }),
      clock,
      restart: { initialDelayMs: 1000, maxDelayMs: 8000 },
      emitRetry: { initialDelayMs: 100, maxDelayMs: 400 },
      random: () => 1, // no jitter: delays are exact
      ...over,
    });
    runtimes.push(runtime);
    return { runtime, clock, health, committed };
  }

  it("should restart a failing source with exponential backoff, forever, reporting each attempt", async () => {
    const source = scripted("flaky", async (ctx, signal, run) => {
      if (run <= 4) throw new Error(`cannot reach the API server (run ${run})`);
      ctx.ready();
      await untilAborted(signal);
    });
    const { runtime, clock, health } = harness([source]);
    runtime.start();
    await clock.advanceUntil(() => source.runs === 1);
    const delays: number[] = [];
    for (let run = 2; run <= 5; run++) {
      const before = clock.now();
      await clock.advanceUntil(() => source.runs === run, 100);
      delays.push(clock.now() - before);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000]);
    const failed = health.filter((h) => h.status === "failed");
    assert.deepEqual(
      failed.map((h) => h.attempts),
      [1, 2, 3, 4],
    );
    assert.match(
      failed[0]!.message,
      /attempt 1 failed: cannot reach the API server \(run 1\); restarting in 1000 ms/,
    );
    await clock.advanceUntil(() => health.at(-1)?.status === "ok");
    assert.equal(health.at(-1)?.attempts, 0, "ready resets the backoff");
  });

  it("should keep the backoff within maxDelayMs and spread restarts with jitter", async () => {
    const source = scripted("down", async () => {
      throw new Error("refused");
    });
    const { runtime, clock, health } = harness([source], { random: () => 0 });
    runtime.start();
    await clock.advanceUntil(() => source.runs === 6, 100);
    // random() = 0 takes the low end of [base/2, base]: 500, 1000, 2000, 4000, 4000.
    const messages = health
      .filter((h) => h.status === "failed")
      .slice(0, 5)
      .map((h) => h.message);
    assert.deepEqual(
      messages.map((m) => Number(/restarting in (\d+) ms/.exec(m)?.[1])),
      [500, 1000, 2000, 4000, 4000],
    );
  });

  it("should start sources concurrently: a source stuck connecting holds back no other", async () => {
    const stuck = scripted("kubernetes", async (_ctx, signal) => {
      await untilAborted(signal); // never ready: an unreachable API server
    });
    const files = scripted("files", async (ctx, signal) => {
      await ctx.emit({ events: [{ type: "gap", code: "CRW_GAP", reason: "first view" }] });
      ctx.ready();
      await untilAborted(signal);
    });
    const { runtime, clock, health, committed } = harness([stuck, files]);
    runtime.start();
    await clock.advanceUntil(() => committed.length === 1);
    assert.equal(committed[0]?.source, "files");
    const latest = (name: string) => health.filter((h) => h.source === name).at(-1)?.status;
    assert.equal(latest("files"), "ok");
    assert.equal(latest("kubernetes"), "starting");
  });

  it("should hand each run the stored cursors and fill in the source and time", async () => {
    let seen: Readonly<Record<string, string>> | undefined;
    let emittedAt = 0;
    const source = scripted("s", async (ctx, signal) => {
      seen = ctx.cursors;
      emittedAt = ctx.clock.now();
      await ctx.emit({ events: [], cursors: { default: "next" } });
      ctx.ready();
      await untilAborted(signal);
    });
    const { runtime, clock, committed } = harness([source]);
    runtime.start();
    await clock.advanceUntil(() => committed.length === 1);
    assert.deepEqual(seen, { default: "stored" });
    assert.equal(committed[0]?.source, "s");
    assert.equal(committed[0]?.observedAt, new Date(emittedAt).toISOString());
  });

  it("should retry a failed commit with backoff until it goes through, and report it in health", async () => {
    let failures = 0;
    const committed: Observation[] = [];
    const source = scripted("s", async (ctx, signal) => {
      await ctx.emit({ events: [] });
      ctx.ready();
      await untilAborted(signal);
    });
    const { runtime, clock, health } = harness([source], {
      commit: async (o) => {
        if (failures++ < 3) throw new Error("SQLITE_FULL: database or disk is full");
        committed.push(o);
      },
    });
    runtime.start();
    const started = clock.now();
    await clock.advanceUntil(() => committed.length === 1);
    assert.equal(failures, 4);
    assert.equal(clock.now() - started >= 100 + 200 + 400, true);
    const degraded = health.filter((h) => h.status === "degraded").map((h) => h.message);
    assert.equal(degraded.length, 3);
    assert.match(degraded[0]!, /commit failed \(attempt 1\): SQLITE_FULL/);
    assert.equal(source.runs, 1, "a failing commit is retried, not the whole source");
  });

  it("should commit several emits in flight in emit order although the first one failed", async () => {
    const committed: string[] = [];
    let failFirst = true;
    const cursor = (o: Observation) => o.cursors?.default ?? "";
    const source = scripted("s", async (ctx, signal) => {
      // Three in flight at once, as the git source keeps them.
      await Promise.all(
        ["c1", "c2", "c3"].map((c) => ctx.emit({ events: [], cursors: { default: c } })),
      );
      ctx.ready();
      await untilAborted(signal);
    });
    // The first emit draws the longest backoff: without ordering, the others would overtake it.
    const jitter = [1, 0, 0];
    const { runtime, clock } = harness([source], {
      random: () => jitter.shift() ?? 0,
      commit: async (o) => {
        // Like ingest: the first transaction fails, with everything queued behind it.
        if (failFirst) {
          if (cursor(o) === "c3") failFirst = false;
          throw new Error("SQLITE_BUSY");
        }
        committed.push(cursor(o));
      },
    });
    runtime.start();
    await clock.advanceUntil(() => committed.length === 3);
    assert.deepEqual(committed, ["c1", "c2", "c3"]);
  });

  it("should flush before it stops, and report the source stopped", async () => {
    let flushed = false;
    const source: Source = {
      name: "s",
      type: "test",
      async run(ctx, signal) {
        ctx.ready();
        await untilAborted(signal);
      },
      async flush() {
        flushed = true;
      },
    };
    const { runtime, clock, health } = harness([source]);
    runtime.start();
    await clock.advanceUntil(() => health.some((h) => h.status === "ok"));
    await runtime.stop();
    assert.equal(flushed, true);
    assert.equal(health.at(-1)?.status, "stopped");
  });

  it("should resolve ready once every source is ready or has failed once", async () => {
    const ok = scripted("ok", async (ctx, signal) => {
      ctx.ready();
      await untilAborted(signal);
    });
    const broken = scripted("broken", async () => {
      throw new Error("bad kubeconfig");
    });
    const { runtime, clock } = harness([ok, broken]);
    runtime.start();
    let ready = false;
    runtime.ready().then(() => {
      ready = true;
    });
    await clock.advanceUntil(() => ready);
    assert.equal(ok.runs, 1);
  });
});
