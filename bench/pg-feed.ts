import type { Ingest } from "../src/ingest/pipeline.js";
import { type Observation, observedText } from "../src/model/observation.js";
import { PER_OBSERVATION, textOf } from "./ingest.js";
import { offer } from "./ingest-feed.js";
import { routeFields } from "./objects.js";

const RESOURCES = Number(process.env.BENCH_RESOURCES ?? 10_000);
/** Observations waiting for their commit at most (what a source's back-pressure allows). */
const WINDOW = 64;
const SOURCE = "bench";

/**
 * How the bench's source hands objects to ingest: `text` (the default) as JSON text, as the
 * parse pool, the files source and Kubernetes list items do (decision 0033), so ingest
 * parses each object where it builds it; `object` as objects the source made on the fly
 * (the feed before decision 0036, whose making counted in the run).
 */
export function benchInput(): "text" | "object" {
  return process.env.BENCH_PG_INPUT === "object" ? "object" : "text";
}

/**
 * The JSON text of changes [0, count): made before the clock starts, since making it is
 * the source's work (reading files, a list response), not crwatch's.
 */
export function inputTexts(count: number): string[] {
  return Array.from({ length: count }, (_, n) => textOf(n, RESOURCES).text);
}

/** Changes [from, to) as one observation; the texts handed on are let go of, as a source does. */
function observationOf(texts: string[], from: number, to: number): Observation {
  const events: Observation["events"] = [];
  for (let n = from; n < to; n++) {
    const i = n % RESOURCES;
    const text = texts[n] as string;
    texts[n] = "";
    const item = observedText(text, routeFields(SOURCE, i));
    events.push({ type: "upsert", item });
  }
  return { source: SOURCE, observedAt: new Date().toISOString(), events };
}

/**
 * Offers every change, PER_OBSERVATION per observation, at most WINDOW waiting for their
 * commit, as `offer` does; `texts` (emptied as they are offered) null offers objects made
 * on the fly instead.
 */
export async function offerAll(ingest: Ingest, texts: string[] | null, count: number) {
  if (texts === null) return offer(ingest, 0, count);
  const inFlight = new Set<Promise<void>>();
  for (let n = 0; n < count; n += PER_OBSERVATION) {
    const p: Promise<void> = ingest
      .accept(observationOf(texts, n, Math.min(count, n + PER_OBSERVATION)))
      .then(() => {
        inFlight.delete(p);
      });
    inFlight.add(p);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}
