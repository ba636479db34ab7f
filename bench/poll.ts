import { pino } from "pino";
import { FakeClock } from "../src/core/clock.js";
import type { Observation } from "../src/model/observation.js";
import { createHttpSource } from "../src/sources/http/source.js";
import { SourceRuntime } from "../src/sources/runtime.js";
import { FakeKong } from "../test/fake-admin-apis.js";
import { percentile } from "./stats.js";

const ENTITIES = Number(process.env.BENCH_POLL_ENTITIES ?? 10_000);
const POLLS = Number(process.env.BENCH_POLLS ?? 10);
const PAGE_SIZE = 1000;

/**
 * Polls a fake Kong holding ENTITIES services (pages of 1000) through the runtime, on a
 * fake clock so each poll starts on demand, and times each poll in real time: nothing
 * changed without ETags, nothing changed with ETags (every page 304), and 1% changed.
 * Baseline: the same pages fetched and JSON-parsed with nothing else done. The commit only
 * counts (ingest has its own scenario), and the fake server runs in this process, so its
 * serialising and hashing is in every figure.
 */
export async function pollScenario(): Promise<Record<string, unknown>> {
  const plain = await measure(false, 0);
  const etag = await measure(true, 0);
  const changed = await measure(false, 0.01);
  return {
    scenario: "poll",
    entities: ENTITIES,
    pageSize: PAGE_SIZE,
    polls: POLLS,
    unchangedMs: plain.ms,
    unchangedWithEtagMs: etag.ms,
    onePercentChangedMs: changed.ms,
    // 1% spread over every page: every page differs, so every page is emitted again.
    itemsEmittedPerPollAtOnePercent: changed.itemsPerPoll,
    observationsWhenUnchanged: plain.observations + etag.observations,
    baselineFetchAndParseMs: plain.baselineMs,
  };
}

async function measure(etags: boolean, changeFraction: number) {
  const kong = new FakeKong(undefined);
  kong.etags = etags;
  for (let i = 0; i < ENTITIES; i++) kong.addService(`svc-${i}`, { tags: [`team-${i % 50}`] });
  const url = await kong.start();
  const clock = new FakeClock();
  // A commit that only counts: the ingest's cost has its own scenario; this one is the source's.
  const counted = { observations: 0, items: 0 };
  const commit = {
    commit: async (o: Observation) => {
      counted.observations++;
      for (const e of o.events) if (e.type === "snapshot-page") counted.items += e.items.length;
    },
  };
  let polls = 0;
  let done: () => void = () => undefined;
  const source = createHttpSource(
    { name: "bench", type: "http", preset: "kong", url, jitter: 0, pageSize: PAGE_SIZE },
    {
      random: () => 0,
      onPoll: () => {
        polls++;
        done();
      },
    },
  );
  const runtime = new SourceRuntime([source], {
    commit: commit.commit,
    loadCursors: async () => ({}),
    onHealth: () => undefined,
    log: pino({ level: "silent" }),
    clock,
  });
  const pollDone = () => new Promise<void>((resolve) => (done = resolve));
  let first = pollDone();
  runtime.start();
  await first;
  const times: number[] = [];
  const observationsBefore = counted.observations;
  const itemsBefore = counted.items;
  for (let p = 0; p < POLLS; p++) {
    const services = kong.list("services");
    const step = Math.max(1, Math.round(1 / Math.max(changeFraction, 1e-9)));
    if (changeFraction > 0) {
      for (let i = p % step; i < services.length; i += step) services[i]!.port = 8000 + p;
    }
    first = pollDone();
    const start = performance.now();
    await clock.advance(clock.pending()[0]!);
    await first;
    times.push(performance.now() - start);
  }
  const baselineMs = await baseline(url);
  await runtime.stop();
  await kong.stop();
  return {
    ms: { p50: round(percentile(times, 50)), max: round(Math.max(...times)) },
    observations: counted.observations - observationsBefore,
    itemsPerPoll: Math.round((counted.items - itemsBefore) / POLLS),
    polls,
    baselineMs,
  };
}

async function baseline(url: string): Promise<number> {
  const start = performance.now();
  let next: string | null = `/services?size=${PAGE_SIZE}`;
  while (next) {
    const body = (await (await fetch(new URL(next, url))).json()) as { next: string | null };
    next = body.next;
  }
  return round(performance.now() - start);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
