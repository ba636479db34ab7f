import type { Logger } from "pino";
import { callbackNotifier } from "../api/notifier.js";
import { type ApiServer, startApiServer } from "../api/server.js";
import type { CrwatchConfig } from "../config/schema.js";
import type { Clock } from "../core/clock.js";
import type { Ingest } from "../ingest/pipeline.js";
import { consumerOf } from "../sinks/dispatcher.js";
import type { Store } from "../store/store.js";

/** The API of a writing process: new commits are noticed through ingest's commit listener. */
export function startApi(
  config: CrwatchConfig,
  parts: {
    store: Store;
    ingest: Ingest;
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
    notifier: callbackNotifier((listener) => parts.ingest.onCommit(listener)),
    logger: parts.log.child({ component: "api" }),
    clock: parts.clock,
    onDeadLettersRequeued: parts.onRequeued,
    ready: parts.ready,
  });
}
