import type { Logger } from "pino";
import type { Observation } from "../model/observation.js";

/** What the composition root hands a source. Sources see nothing of ingest or the store. */
export interface SourceContext {
  /** Hands observations on; resolves once they are committed (back-pressure for free). */
  emit(observation: Observation): Promise<void>;
  log: Logger;
  /** The cursor committed with this source's last observation, if any. */
  cursor: string | undefined;
}

/**
 * A long-running watcher of one system. `start` resolves after the initial full view has
 * been emitted; `flush` emits whatever is waiting in a debounce now; `stop` releases
 * watchers (callers flush first when they want pending events).
 */
export interface Source {
  readonly name: string;
  readonly type: string;
  start(ctx: SourceContext): Promise<void>;
  flush(): Promise<void>;
  stop(): Promise<void>;
}
