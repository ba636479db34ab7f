import { availableParallelism } from "node:os";
import type { Logger } from "pino";
import type { CrwatchConfig } from "../config/schema.js";
import { createMasker } from "../core/mask.js";
import type { WorkerSpec } from "../ingest/build-pool.js";
import { Ingest } from "../ingest/pipeline.js";
import type { EvaluateRules } from "../model/rule.js";
import { createRuleEngine } from "../rules/index.js";
import type { Store } from "../store/store.js";
import type { BuildWorkerData } from "./build-worker.js";

/** Ingest as `serve` runs it; `diff` builds the same, so both agree on what a change is. */
export function buildIngest(
  config: CrwatchConfig,
  store: Store,
  maskKey: Buffer,
  log: Logger,
  /** Replaces the config's engine (`lint` runs the single-state rules only); builds in this thread. */
  rules?: EvaluateRules,
  /** The key before a rotation: heads it masked are re-masked, not changed (decision 0028). */
  previousMaskKey?: Buffer,
): Ingest {
  const { ingest } = config;
  const canonicalize = { keepStatus: ingest.keepStatus, ignorePaths: ingest.ignorePaths };
  const workers = rules ? 0 : workerCount(ingest.workers);
  const ruleConfig = { policy: config.policy, rules: config.rules };
  // Throws CRW_RULE_COMPILE naming each bad rule and position: refused at start.
  const engine = (part?: "stateless" | "stateful") => createRuleEngine({ ...ruleConfig, part });
  return new Ingest({
    store,
    log: log.child({ component: "ingest" }),
    masker: createMasker({ key: maskKey, extraKeys: ingest.secretKeys }),
    ...(previousMaskKey && {
      previousMasker: createMasker({ key: previousMaskKey, extraKeys: ingest.secretKeys }),
    }),
    canonicalize,
    // Stateful rules (the burst counter) always run at finalize, in commit order, whether
    // the batch builds in workers or here; a caller's own engine (lint) builds here whole.
    ...(rules ? { rules } : { rules: engine("stateless"), statefulRules: engine("stateful") }),
    ...(workers > 0 && {
      workers: workerSpec(workers, {
        maskKey: new Uint8Array(maskKey),
        ...(previousMaskKey && { previousMaskKey: new Uint8Array(previousMaskKey) }),
        secretKeys: ingest.secretKeys,
        canonicalize,
        ...ruleConfig,
      }),
    }),
  });
}

/**
 * "auto": none on two cores or fewer (measured there, two build workers win only on a
 * modify-heavy SQLite load and lose on a sync of new objects and on PostgreSQL: the copies
 * eat the work moved; decisions 0025, 0033); from four cores, all but the ingest thread's.
 */
export function workerCount(setting: number | "auto"): number {
  if (setting !== "auto") return setting;
  const cores = availableParallelism();
  return cores <= 2 ? 0 : cores - 1;
}

function workerSpec(size: number, data: BuildWorkerData): WorkerSpec {
  return { url: new URL("./build-worker.js", import.meta.url), data, size };
}
