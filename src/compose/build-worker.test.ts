import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import pino from "pino";
import { repoRoot, tempDir } from "../../test/helpers.js";
import { canonicalize } from "../core/canonicalize.js";
import { createMasker } from "../core/mask.js";
import { sha256Hex } from "../core/stable-json.js";
import { Ingest, type IngestOptions } from "../ingest/pipeline.js";
import type { Change } from "../model/change.js";
import type { JsonObject } from "../model/json.js";
import {
  type Observation,
  type ObservationEvent,
  type ObservedObject,
  observedText,
} from "../model/observation.js";
import { createRuleEngine } from "../rules/index.js";
import { openSqliteStore } from "../store/sqlite/store.js";
import type { BuildWorkerData } from "./build-worker.js";

const KEY = Buffer.from("w".repeat(32));
/** The key a rotation replaces with KEY (decision 0028). */
const OLD_KEY = Buffer.from("o".repeat(32));
const WORKER = new URL("./build-worker.js", import.meta.url);
const log = pino({ level: "silent" });

function workerData(extra: Partial<BuildWorkerData> = {}): BuildWorkerData {
  return { maskKey: new Uint8Array(KEY), secretKeys: [], canonicalize: {}, ...extra };
}

/** Ingest built in this thread, or with build workers, as `buildIngest` sets each up. */
function options(workers: number, cacheBytes: number): Partial<IngestOptions> {
  const common = { masker: createMasker({ key: KEY }), log, maxCachedObjectBytes: cacheBytes };
  if (workers === 0) return { ...common, rules: createRuleEngine() };
  return {
    ...common,
    rules: createRuleEngine({ part: "stateless" }),
    statefulRules: createRuleEngine({ part: "stateful" }),
    workers: { url: WORKER, data: workerData(), size: workers },
  };
}

function route(name: string, weight: number, token: string): ObservedObject {
  return {
    ref: {
      source: "s",
      group: "gateway.networking.k8s.io",
      kind: "HTTPRoute",
      namespace: "a",
      name,
    },
    location: { path: `/cfg/${name}.yaml`, line: 1 },
    object: {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name, namespace: "a", annotations: { auth: `Bearer ${token}` } },
      spec: {
        rules: [
          {
            backendRefs: [
              { name: "v1", weight },
              { name: "v2", weight: 100 - weight },
            ],
          },
        ],
      },
    } as JsonObject,
  };
}

type Step =
  | { op: "upsert"; name: string; weight: number; token: string }
  | { op: "delete"; name: string }
  | { op: "snapshot"; names: string[]; weight: number };

const names = ["r0", "r1", "r2", "r3", "r4"];
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant("upsert" as const),
    name: fc.constantFrom(...names),
    weight: fc.constantFrom(0, 50, 90),
    token: fc.constantFrom("t1", "t2"),
  }),
  fc.record({ op: fc.constant("delete" as const), name: fc.constantFrom(...names) }),
  fc.record({
    op: fc.constant("snapshot" as const),
    names: fc.subarray(names),
    weight: fc.constantFrom(0, 50),
  }),
);

/** With `asText`, the objects come as JSON text, as the parse pool hands them (decision 0033). */
function event(s: Step, asText = false): ObservationEvent {
  const item = (name: string, weight: number, token: string) => {
    const { object, ...fields } = route(name, weight, token);
    return asText ? observedText(JSON.stringify(object), fields) : { ...fields, object };
  };
  if (s.op === "upsert") return { type: "upsert", item: item(s.name, s.weight, s.token) };
  if (s.op === "delete") return { type: "delete", ref: route(s.name, 0, "").ref };
  return { type: "snapshot", items: s.names.map((n) => item(n, s.weight, "t1")) };
}

/** What a change says, without what depends on the clock or the chain. */
function meaning(c: Change): unknown {
  return [
    c.type,
    c.ref.name,
    c.revision,
    c.previousRevision,
    c.patch,
    c.summary,
    c.findings,
    c.contentHash,
  ];
}

/** As `options`, with the mask key rotated: OLD_KEY is the previous key. */
function rotated(workers: number, cacheBytes: number): Partial<IngestOptions> {
  const opts = options(workers, cacheBytes);
  opts.previousMasker = createMasker({ key: OLD_KEY });
  if (opts.workers) {
    const data = workerData({ previousMaskKey: new Uint8Array(OLD_KEY) });
    opts.workers = { ...opts.workers, data };
  }
  return opts;
}

/** `options` under OLD_KEY, as a store was written before the rotation. */
function beforeRotation(): Partial<IngestOptions> {
  return { ...options(0, 1 << 20), masker: createMasker({ key: OLD_KEY }) };
}

/**
 * A history written under OLD_KEY, then ingested again after rotating to KEY: the changes
 * of the second part, each head (content hash: re-masked or not) and verify's verdict.
 */
async function rotationHistory(
  first: ObservationEvent[][],
  then: ObservationEvent[][],
  opts: Partial<IngestOptions>,
) {
  const dir = await tempDir();
  const store = await openSqliteStore({ dir: dir.path });
  const observedAt = "2026-11-30T00:00:00.000Z";
  const feed = async (ingest: Ingest, observations: ObservationEvent[][]) => {
    try {
      for (const events of observations)
        await ingest.accept({ source: "s", observedAt, events } as Observation);
    } finally {
      await ingest.close();
    }
  };
  try {
    await feed(new Ingest({ store, ...beforeRotation() } as IngestOptions), first);
    const since = await store.lastSeq();
    const ingest = new Ingest({ store, ...opts } as IngestOptions);
    await Promise.all(
      then.map((events) => ingest.accept({ source: "s", observedAt, events } as Observation)),
    );
    await ingest.close();
    return {
      changes: (await store.readChanges({ afterSeq: since })).map(meaning),
      heads: (await store.loadHeads("s")).map((h) => [h.ref.name, h.revision, h.contentHash]),
      verify: await store.verify(),
    };
  } finally {
    await store.close();
    await dir.cleanup();
  }
}

/** Feeds every observation at once (so they fold into batches however timing falls), in order. */
async function history(observations: ObservationEvent[][], opts: Partial<IngestOptions>) {
  const dir = await tempDir();
  const store = await openSqliteStore({ dir: dir.path });
  const ingest = new Ingest({ store, ...opts } as IngestOptions);
  try {
    const observedAt = "2026-11-30T00:00:00.000Z";
    await Promise.all(
      observations.map((events) =>
        ingest.accept({ source: "s", observedAt, events } as Observation),
      ),
    );
    return (await store.readChanges({ afterSeq: 0 })).map(meaning);
  } finally {
    await ingest.close();
    await store.close();
    await dir.cleanup();
  }
}

describe("build workers", () => {
  it("should record exactly what building in the ingest thread records, whatever the batching and cache", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(step, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 12 }),
        async (plan) => {
          const observations = plan.map((steps) => steps.map((s) => event(s)));
          const asText = plan.map((steps) => steps.map((s) => event(s, true)));
          const inline = await history(observations, options(0, 1 << 20));
          assert.ok(inline.length > 0);
          // Cache off: every MODIFIED needs its "before" read from the store.
          assert.deepStrictEqual(await history(observations, options(2, 0)), inline);
          assert.deepStrictEqual(await history(observations, options(1, 1 << 20)), inline);
          // Sources that hand JSON text: parsed where each job runs, same history.
          assert.deepStrictEqual(await history(asText, options(0, 1 << 20)), inline);
          assert.deepStrictEqual(await history(asText, options(2, 0)), inline);
        },
      ),
      { seed: 20261130, numRuns: 25 },
    );
  });

  it("should re-mask after a key rotation exactly as the ingest thread does, whatever the batching and cache", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(step, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.array(step, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }),
        async (first, then) => {
          const before = first.map((steps) => steps.map((s) => event(s)));
          const after = then.map((steps) => steps.map((s) => event(s)));
          const inline = await rotationHistory(before, after, rotated(0, 1 << 20));
          assert.equal(inline.verify.ok, true, JSON.stringify(inline.verify));
          assert.deepStrictEqual(await rotationHistory(before, after, rotated(2, 0)), inline);
          assert.deepStrictEqual(await rotationHistory(before, after, rotated(1, 1 << 20)), inline);
        },
      ),
      { seed: 20261130, numRuns: 15 },
    );
  });

  it("should re-mask unchanged heads in workers and record only real changes after a rotation", async () => {
    const many = Array.from({ length: 12 }, (_, i) => `m${i}`);
    const first = [[{ type: "snapshot", items: many.map((n) => route(n, 10, "t1")) }]];
    const items = many.map((n, i) =>
      i === 10 ? route(n, 10, "t2") : i === 11 ? route(n, 20, "t1") : route(n, 10, "t1"),
    );
    const then = [[{ type: "snapshot", items }]];
    const inThread = await rotationHistory(
      first as ObservationEvent[][],
      then as ObservationEvent[][],
      rotated(0, 1 << 20),
    );
    // Twelve jobs in one batch: built in the workers, not below the inline threshold.
    const inWorkers = await rotationHistory(
      first as ObservationEvent[][],
      then as ObservationEvent[][],
      rotated(2, 0),
    );
    assert.deepStrictEqual(inWorkers, inThread);
    const patched = inWorkers.changes.map((c) => {
      const [type, name, , , patch] = c as [string, string, number, number, { path: string }[]];
      return [type, name, patch.map((op) => op.path)];
    });
    assert.deepEqual(patched, [
      ["MODIFIED", "m10", ["/metadata/annotations/auth"]],
      [
        "MODIFIED",
        "m11",
        ["/spec/rules/0/backendRefs/1/weight", "/spec/rules/0/backendRefs/0/weight"],
      ],
    ]);
    const masker = createMasker({ key: KEY });
    const underKey = (o: ObservedObject) =>
      sha256Hex(JSON.stringify(masker(canonicalize(o.object))));
    assert.deepEqual(
      inWorkers.heads.map(([name, revision, hash]) => [
        name,
        revision,
        hash === underKey(items[many.indexOf(name as string)] as ObservedObject),
      ]),
      many.map((n, i) => [n, i >= 10 ? 2 : 1, true]).sort(),
      "every head is under the new key, the unchanged ones at their old revision",
    );
    assert.equal(inWorkers.verify.ok, true);
  });

  it("should keep the burst rule's count in commit order across workers", async () => {
    const policy = { burst: { changes: 2, window: "5m" } };
    const opts = options(2, 1 << 20);
    opts.statefulRules = createRuleEngine({ policy, part: "stateful" });
    opts.rules = createRuleEngine({ policy, part: "stateless" });
    opts.workers = { url: WORKER, data: workerData({ policy }), size: 2 };
    const upserts = names.map(
      (n, i) => ({ type: "upsert", item: route(n, i, "t") }) as ObservationEvent,
    );
    const changes = await history([upserts], opts);
    const bursts = changes.filter((c) => JSON.stringify(c).includes("generic/change-burst"));
    // Five changes, two allowed: the third fires once per window.
    assert.equal(bursts.length, 1);
    assert.equal((bursts[0] as unknown[])[1], "r2");
  });

  it("should fail a batch whose worker dies with CRW_BUILD_WORKER, then build it again on a new worker", async () => {
    const dir = await tempDir();
    const store = await openSqliteStore({ dir: dir.path });
    const marker = join(dir.path, "crashed-once");
    const crashing = new URL(
      `file://${join(repoRoot, "dist", "test", "crash-once-build-worker.js")}`,
    );
    const ingest = new Ingest({
      ...options(1, 1 << 20),
      store,
      workers: { url: crashing, data: { ...workerData(), marker }, size: 1 },
    } as IngestOptions);
    try {
      // Enough jobs that the batch goes to the worker rather than being built here.
      const many = Array.from({ length: 20 }, (_, i) => `m${i}`);
      const batch = many.map(
        (n) => ({ type: "upsert", item: route(n, 10, "t") }) as ObservationEvent,
      );
      const observation: Observation = {
        source: "s",
        observedAt: new Date().toISOString(),
        events: batch,
      };
      await assert.rejects(ingest.accept(observation), { code: "CRW_BUILD_WORKER" });
      assert.equal(await store.lastSeq(), 0, "nothing of the failed batch is committed");
      await ingest.accept(observation);
      const changes = await store.readChanges({ afterSeq: 0 });
      assert.deepEqual(
        changes.map((c) => [c.type, c.ref.name]),
        many.map((n) => ["ADDED", n]),
      );
    } finally {
      await ingest.close();
      await store.close();
      await dir.cleanup();
    }
  });
});
