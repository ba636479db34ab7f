import type { Logger } from "pino";
import type { Clock } from "../core/clock.js";
import { errorMessage } from "../model/errors.js";
import type { Store } from "../store/store.js";

export interface CommitWatchOptions {
  clock: Clock;
  log: Logger;
  /** First pause before listening again after the connection dropped; doubles up to maxMs. */
  retryMs?: number;
  maxRetryMs?: number;
}

/**
 * Hears about the commits of every process on a shared store (PostgreSQL LISTEN/NOTIFY) for
 * as long as it runs. The store reports a dropped listening connection as one last call and
 * then stays silent, so this listens again after a pause (doubling, capped) and calls
 * `onCommit` once more when it is back: commits made meanwhile were not announced, and the
 * readers woken by it read the log, not the notification. Resolves once listening (the first
 * failure is thrown: `serve` should not start deaf); the returned function stops it.
 * Undefined for a store that cannot tell other processes' commits (SQLite: one writer).
 */
export async function watchStoreCommits(
  store: Store,
  onCommit: () => void,
  options: CommitWatchOptions,
): Promise<(() => Promise<void>) | undefined> {
  if (!store.watchCommits) return undefined;
  const { clock, log, retryMs = 500, maxRetryMs = 30_000 } = options;
  const stopping = new AbortController();
  let unlisten: (() => Promise<void>) | undefined;
  let reopening: Promise<void> | undefined;

  const listen = async () => {
    unlisten = await store.watchCommits!((lastSeq) => {
      onCommit();
      if (Number.isNaN(lastSeq) && !reopening && !stopping.signal.aborted) {
        reopening = reopen().finally(() => {
          reopening = undefined;
        });
      }
    });
  };

  const reopen = async () => {
    log.warn("the connection listening for commits dropped; listening again");
    await unlisten?.().catch(() => undefined);
    unlisten = undefined;
    for (let pause = retryMs; !stopping.signal.aborted; pause = Math.min(pause * 2, maxRetryMs)) {
      await clock.sleep(pause, stopping.signal).catch(() => undefined);
      if (stopping.signal.aborted) return;
      try {
        await listen();
        log.info("listening for commits again");
        onCommit();
        return;
      } catch (err) {
        log.warn(
          { err: errorMessage(err), retryInMs: Math.min(pause * 2, maxRetryMs) },
          "cannot listen for commits yet",
        );
      }
    }
  };

  await listen();
  return async () => {
    stopping.abort();
    await reopening;
    await unlisten?.().catch(() => undefined);
  };
}
