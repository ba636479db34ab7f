import { parentPort, workerData } from "node:worker_threads";
import type { CanonicalizeOptions } from "../core/canonicalize.js";
import { createMasker } from "../core/mask.js";
import { type Kernel, runUpserts } from "../ingest/build-kernel.js";
import { decodeJobs, encodeResults, type WireRequest } from "../ingest/build-wire.js";
import { errorMessage } from "../model/errors.js";
import type { PolicyConfig, UserRuleConfig } from "../rules/config.js";
import { createRuleEngine } from "../rules/index.js";

/** What `buildIngest` hands each build worker: everything its kernel is built from. */
export interface BuildWorkerData {
  maskKey: Uint8Array;
  /** The key before a rotation (decision 0028), while heads may still carry its masks. */
  previousMaskKey?: Uint8Array;
  secretKeys: string[];
  canonicalize: CanonicalizeOptions;
  policy?: PolicyConfig;
  rules?: UserRuleConfig[];
}

/**
 * A build worker's composition root: the same masker and (stateless) rules as the ingest
 * thread, then encode-and-explain for each batch of upsert jobs it is sent.
 */
function start(data: BuildWorkerData): void {
  const kernel: Kernel = {
    masker: createMasker({ key: Buffer.from(data.maskKey), extraKeys: data.secretKeys }),
    ...(data.previousMaskKey && {
      previousMasker: createMasker({
        key: Buffer.from(data.previousMaskKey),
        extraKeys: data.secretKeys,
      }),
    }),
    canonicalize: data.canonicalize,
    rules: createRuleEngine({
      ...(data.policy && { policy: data.policy }),
      ...(data.rules && { rules: data.rules }),
      part: "stateless",
    }),
  };
  parentPort?.on("message", (request: WireRequest) => {
    try {
      const results = runUpserts(kernel, decodeJobs(request));
      parentPort?.postMessage(encodeResults(request.id, results));
    } catch (err) {
      parentPort?.postMessage({ id: request.id, error: errorMessage(err) });
    }
  });
}

start(workerData as BuildWorkerData);
