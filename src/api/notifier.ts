import type { Clock, TimerHandle } from "../core/clock.js";
import type { ChangeLog } from "../store/store.js";

/**
 * Tells watch streams that the log may have grown. The composition root provides it: in
 * the writing process, ingest's commit listener; on a shared PostgreSQL store, also the
 * store's LISTEN/NOTIFY (another replica committed); for a read-only process on a store that
 * cannot notify, `pollingNotifier`.
 */
export interface CommitNotifier {
  subscribe(listener: () => void): () => void;
}

/** A notifier that its owner fires by hand (`notify`), from as many feeds as it likes. */
export function fanoutNotifier(): CommitNotifier & { notify(): void } {
  const listeners = new Set<() => void>();
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    notify() {
      for (const listener of listeners) listener();
    },
  };
}

/** A notifier fed by a callback registration that has no way to unregister (ingest.onCommit). */
export function callbackNotifier(register: (listener: () => void) => void): CommitNotifier {
  const listeners = new Set<() => void>();
  register(() => {
    for (const listener of listeners) listener();
  });
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * For a process that does not write the log (another replica, a read-only API): compares
 * `lastSeq` every `intervalMs` on the injected clock and notifies when it moved.
 */
export function pollingNotifier(log: ChangeLog, clock: Clock, intervalMs: number): CommitNotifier {
  return {
    subscribe(listener) {
      let last: number | undefined;
      let timer: TimerHandle | undefined;
      let stopped = false;
      const tick = async () => {
        try {
          const seq = await log.lastSeq();
          if (last !== undefined && seq !== last) listener();
          last = seq;
        } catch {
          // A failed read is retried on the next tick; the stream catches up from the log.
        }
        if (!stopped) timer = clock.setTimeout(tick, intervalMs);
      };
      timer = clock.setTimeout(tick, 0);
      return () => {
        stopped = true;
        clock.clearTimeout(timer);
      };
    },
  };
}
