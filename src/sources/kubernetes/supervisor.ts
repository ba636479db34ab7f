import { backoffDelay } from "../../core/clock.js";
import { errorMessage } from "../../model/errors.js";
import type { Scope } from "../../model/observation.js";
import { KubeHttpError } from "./client.js";
import { type KindSpec, kindKey } from "./config.js";
import { discoverKind, type ServedKind } from "./discovery.js";
import { type KindStream, type ListWatchDeps, listStream, watchStream } from "./list-watch.js";

export interface KindSupervisorDeps extends ListWatchDeps {
  namespaces: string[];
  discoveryIntervalMs: number;
  /** Stored resourceVersions per stream, at start. */
  cursors: Readonly<Record<string, string>>;
  random: () => number;
  /** A stream's own word on how it is (the source folds these into its health). */
  onHealth(key: string, status: "ok" | "degraded", message: string): void;
  /** The stream has emitted its first full view (or resumed, or failed once). */
  onSettled(key: string): void;
}

const RETRY = { initialDelayMs: 500, maxDelayMs: 60_000 };
/** A watch that lasted this long without a line was healthy (a quiet kind), not failing. */
const HEALTHY_WATCH_MS = 10_000;

/**
 * Runs one configured kind for as long as the source runs: resolves it through discovery
 * (reporting CRW_UNKNOWN_KIND and asking again every discovery interval while it is not
 * served), then runs a list+watch stream per namespace. When the kind stops being served
 * (the CRD was removed) that is reported, and discovery starts over. Nothing here stops for
 * good: every other error backs off with jitter and retries.
 */
export async function superviseKind(
  spec: KindSpec,
  deps: KindSupervisorDeps,
  signal: AbortSignal,
): Promise<void> {
  const key = kindKey(spec);
  const problemPath = `kubernetes:${key}`;
  let unknownReported = false;
  let failures = 0;
  let cursors = deps.cursors;
  while (!signal.aborted) {
    let served: ServedKind | null;
    try {
      served = await discoverKind(deps.client, spec, signal);
      failures = 0;
    } catch (err) {
      if (signal.aborted) return;
      failures++;
      const delay = backoffDelay(failures, RETRY, deps.random);
      deps.onHealth(
        key,
        "degraded",
        `${key}: discovery failed: ${describe(err)}; retrying in ${delay} ms`,
      );
      deps.onSettled(key);
      await deps.clock.sleep(delay, signal);
      continue;
    }
    if (!served) {
      const message = `${key} is not served by the API at ${deps.client.serverUrl} (CRD not installed, or removed); asking discovery again every ${deps.discoveryIntervalMs} ms`;
      deps.onHealth(key, "degraded", message);
      if (!unknownReported) {
        unknownReported = true;
        await deps.emit({
          events: [
            {
              type: "problem",
              problem: {
                code: "CRW_UNKNOWN_KIND",
                message,
                location: { path: problemPath },
                fingerprint: "not-served",
              },
            },
          ],
        });
      }
      deps.onSettled(key);
      await deps.clock.sleep(deps.discoveryIntervalMs, signal);
      continue;
    }
    deps.onHealth(key, "ok", `${key}: served as ${served.version}`);
    if (unknownReported) {
      unknownReported = false;
      await deps.emit({ events: [{ type: "recovered", location: problemPath }] });
    }
    await runStreams(served, { ...deps, cursors }, signal);
    // The kind vanished: the stored resourceVersions belong to objects that are gone, so
    // when it is served again it is listed afresh (the snapshot infers what changed).
    cursors = {};
  }
}

/** Runs the kind's streams until the kind is gone from the API (404) or the source stops. */
async function runStreams(
  served: ServedKind,
  deps: KindSupervisorDeps,
  signal: AbortSignal,
): Promise<void> {
  const gone = new AbortController();
  const onAbort = () => gone.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  const namespaces =
    served.namespaced && deps.namespaces.length > 0 ? deps.namespaces : [undefined];
  const base = kindKey(served);
  try {
    await Promise.all(
      namespaces.map(async (namespace) => {
        const scope: Scope = {
          group: served.group,
          kind: served.kind,
          ...(namespace ? { namespace } : {}),
        };
        const stream: KindStream = {
          served,
          namespace,
          key: namespace ? `${base}/${namespace}` : base,
          scope,
        };
        await runStream(stream, deps, gone.signal);
        gone.abort(); // one stream saw the kind vanish: all of them rediscover
      }),
    );
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * The recovery state machine of one stream, in one place: list when there is no usable
 * resourceVersion, then watch; 410 (status or ERROR event) → relist with a GAP; a dropped,
 * closed or stalled watch → watch again from the last resourceVersion (no relist); 404 →
 * return (the kind is gone); anything else → back off with jitter and try again.
 */
async function runStream(
  stream: KindStream,
  deps: KindSupervisorDeps,
  signal: AbortSignal,
): Promise<void> {
  const cursor = { rv: deps.cursors[stream.key] ?? "" };
  let needList = cursor.rv === "";
  let gapFrom: string | undefined;
  let failures = 0;
  while (!signal.aborted) {
    try {
      if (needList) {
        cursor.rv = await listStream(stream, deps, signal, gapFrom);
        needList = false;
        gapFrom = undefined;
      }
      deps.onHealth(stream.key, "ok", `${stream.key}: watching from resourceVersion ${cursor.rv}`);
      deps.onSettled(stream.key);
      const started = deps.clock.now();
      const end = await watchStream(stream, deps, cursor, signal);
      if (end.reason === "expired") {
        deps.log.warn(
          { stream: stream.key, rv: cursor.rv, detail: end.detail },
          "watch expired; relisting",
        );
        gapFrom = cursor.rv;
        needList = true;
        continue;
      }
      deps.log.info(
        { stream: stream.key, rv: cursor.rv, reason: end.reason, detail: end.detail },
        "watch ended; resuming",
      );
      const healthy =
        end.progressed ||
        deps.clock.now() - started >= HEALTHY_WATCH_MS ||
        end.reason === "stalled";
      if (healthy) {
        failures = 0;
        continue;
      }
      failures++;
      await deps.clock.sleep(backoffDelay(failures, RETRY, deps.random), signal);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof KubeHttpError && err.status === 404) {
        await reportGone(stream, deps, err);
        return;
      }
      if (err instanceof KubeHttpError && err.status === 410 && !needList) {
        // A watch refused with HTTP 410: the same as an ERROR event saying so.
        gapFrom = cursor.rv;
        needList = true;
        continue;
      }
      failures++;
      const delay = backoffDelay(failures, RETRY, deps.random);
      deps.log.error(
        { err, stream: stream.key, attempt: failures, retryInMs: delay },
        "list/watch failed",
      );
      deps.onHealth(
        stream.key,
        "degraded",
        `${stream.key}: ${describe(err)}; retrying in ${delay} ms (attempt ${failures})`,
      );
      deps.onSettled(stream.key);
      await deps.clock.sleep(delay, signal);
    }
  }
}

async function reportGone(
  stream: KindStream,
  deps: KindSupervisorDeps,
  err: KubeHttpError,
): Promise<void> {
  const message = `${stream.key} is no longer served (${err.message}); rediscovering`;
  deps.log.warn({ stream: stream.key }, message);
  deps.onHealth(stream.key, "degraded", message);
}

/** A precise message for people: what the status means for crwatch. */
function describe(err: unknown): string {
  if (err instanceof KubeHttpError) {
    if (err.status === 401)
      return `unauthorized (401): the API server rejected crwatch's credentials: ${err.message}`;
    if (err.status === 403)
      return `forbidden (403): the account needs get, list and watch on this resource: ${err.message}`;
  }
  return errorMessage(err);
}
