import type { Logger } from "pino";
import type { CrwatchConfig } from "../config/schema.js";
import { createMasker } from "../core/mask.js";
import { Ingest } from "../ingest/pipeline.js";
import type { EvaluateRules } from "../model/rule.js";
import { createRuleEngine } from "../rules/index.js";
import type { Store } from "../store/store.js";

/** Ingest as `serve` runs it; `diff` builds the same, so both agree on what a change is. */
export function buildIngest(
  config: CrwatchConfig,
  store: Store,
  maskKey: Buffer,
  log: Logger,
  /** Replaces the config's engine (`lint` runs the single-state rules only). */
  rules?: EvaluateRules,
): Ingest {
  return new Ingest({
    store,
    log: log.child({ component: "ingest" }),
    masker: createMasker({ key: maskKey, extraKeys: config.ingest.secretKeys }),
    canonicalize: { keepStatus: config.ingest.keepStatus, ignorePaths: config.ingest.ignorePaths },
    // Throws CRW_RULE_COMPILE naming each bad rule and position: refused at start.
    rules: rules ?? createRuleEngine({ policy: config.policy, rules: config.rules }),
  });
}
