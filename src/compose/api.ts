import type { Logger } from "pino";
import type { CommitNotifier } from "../api/notifier.js";
import { type ApiServer, startApiServer } from "../api/server.js";
import type { CrwatchConfig } from "../config/schema.js";
import type { Clock } from "../core/clock.js";
import { consumerOf } from "../sinks/dispatcher.js";
import type { Store } from "../store/store.js";

/**
 * The API of a `serve` process. `notifier` says when the log grew: ingest's commit listener
 * in a single writer; on a shared store also the store's LISTEN/NOTIFY, so a replica that
 * does not drive a source still streams what the one that does commits.
 */
export function startApi(
  config: CrwatchConfig,
  parts: {
    store: Store;
    notifier: CommitNotifier;
    log: Logger;
    clock: Clock;
    onRequeued: () => void;
    /** Every source has its first view (readyz answers 503 until then). */
    ready: () => boolean;
  },
): Promise<ApiServer> | undefined {
  if (!config.api) return undefined;
  return startApiServer({
    store: parts.store,
    config: config.api,
    sources: config.sources.map((s) => s.name),
    sinks: config.sinks.map((s) => ({ name: s.name, consumer: consumerOf(s.name) })),
    notifier: parts.notifier,
    logger: parts.log.child({ component: "api" }),
    clock: parts.clock,
    onDeadLettersRequeued: parts.onRequeued,
    ready: parts.ready,
  });
}
