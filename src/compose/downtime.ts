import type { Logger } from "pino";
import type { Clock, TimerHandle } from "../core/clock.js";
import type { Ingest } from "../ingest/pipeline.js";
import type { Store } from "../store/store.js";

const LAST_ALIVE = "last_alive";
const HEARTBEAT_MS = 30_000;

/**
 * While crwatch is not running it sees nothing; the offline reconcile at the next start
 * records the net changes, but not the ones that came and went. So the interval is written
 * down: one GAP per source, from the last moment this store knew crwatch alive (a heartbeat
 * every 30 s, and the stop) to now. A first start has no such moment and records none.
 */
export async function recordDowntime(
  store: Store,
  ingest: Ingest,
  sources: string[],
  clock: Clock,
): Promise<void> {
  const lastAlive = await store.getMeta(LAST_ALIVE);
  if (lastAlive === undefined) return;
  const now = new Date(clock.now()).toISOString();
  for (const source of sources) {
    await ingest.accept({
      source,
      observedAt: now,
      events: [
        {
          type: "gap",
          code: "CRW_NOT_RUNNING",
          reason: `crwatch was not running from ${lastAlive} to ${now}`,
          detail: "changes made and undone in between are not in the history",
        },
      ],
    });
  }
}

/** Notes "alive now" every HEARTBEAT_MS and at stop; returns the stop. */
export function startHeartbeat(store: Store, clock: Clock, log: Logger): () => Promise<void> {
  let timer: TimerHandle | undefined;
  const beat = () =>
    store
      .setMeta(LAST_ALIVE, new Date(clock.now()).toISOString())
      .catch((err) => log.warn({ err }, "could not record the heartbeat"));
  const schedule = () => {
    timer = clock.setTimeout(() => {
      void beat().then(schedule);
    }, HEARTBEAT_MS);
  };
  void beat().then(schedule);
  return async () => {
    clock.clearTimeout(timer);
    timer = undefined;
    await beat();
  };
}
