import type { Logger } from "pino";
import type { Clock } from "../core/clock.js";
import type { ChangeLog, ConsumerLedger, SourceLedger } from "../store/store.js";
import type { ApiConfig } from "./config.js";
import type { CommitNotifier } from "./notifier.js";

/** What the API needs, given by the composition root: read access to the store, and names. */
export interface ApiDeps {
  store: ChangeLog & SourceLedger & ConsumerLedger;
  config: ApiConfig;
  /** Configured source names. */
  sources: string[];
  /** Configured sinks and the consumer names their cursors are kept under. */
  sinks: { name: string; consumer: string }[];
  notifier: CommitNotifier;
  logger: Logger;
  clock?: Clock;
  /** Readiness beyond a readable store (e.g. every source has its first view). */
  ready?: () => boolean;
  /** Called after dead letters were requeued, so delivery can pick them up at once. */
  onDeadLettersRequeued?: () => void;
}
