import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { connect as amqpConnect } from "amqplib";
import { connect as natsConnect } from "nats";
import pino from "pino";
import { systemClock } from "../src/core/clock.js";
import type { Change, NewChange } from "../src/model/change.js";
import { createAmqpSink } from "../src/sinks/amqp/sink.js";
import { Dispatcher } from "../src/sinks/dispatcher.js";
import { createNatsSink } from "../src/sinks/nats/sink.js";
import { allDelivered, type Sink } from "../src/sinks/sink.js";
import { createWebhookSink } from "../src/sinks/webhook/sink.js";
import { openSqliteStore } from "../src/store/sqlite/store.js";
import type { Store } from "../src/store/store.js";
import { tempDir } from "../test/helpers.js";
import { makeRoute } from "./objects.js";

/** Changes delivered per sink (the environment can shrink it for a quick look). */
const CHANGES = Number(process.env.BENCH_SINK_CHANGES ?? 20_000);
/** Changes per `deliver` call and per raw window: the same for the sink and the baseline. */
const BATCH = 500;
const NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
const AMQP_URL = process.env.BENCH_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const quiet = pino({ level: "silent" });

function newChange(i: number): NewChange {
  const object = makeRoute(i, 1);
  return {
    type: "ADDED",
    ref: {
      source: "bench",
      group: "gateway.networking.k8s.io",
      kind: "HTTPRoute",
      namespace: `team-${i % 50}`,
      name: `route-${i}`,
    },
    revision: 1,
    previousRevision: null,
    actor: { name: "bench", via: "git" },
    cause: null,
    location: { path: `/bench/route-${i}.yaml`, line: 1 },
    observedAt: new Date(0).toISOString(),
    patch: [{ op: "add", path: "", value: object }],
    summary: [`added HTTPRoute route-${i}`],
    findings: [],
    notice: null,
    object,
    contentHash: String(i).padStart(64, "0"),
  };
}

async function fill(store: Store): Promise<Change[]> {
  const all: Change[] = [];
  for (let i = 0; i < CHANGES; i += BATCH) {
    const changes = Array.from({ length: Math.min(BATCH, CHANGES - i) }, (_, k) =>
      newChange(i + k),
    );
    all.push(...(await store.commit({ changes, cursors: [], resolvedProblems: [] })));
  }
  return all;
}

/** Changes per second through the dispatcher to `sink`, from its cursor 0 to the end. */
async function throughDispatcher(store: Store, sink: Sink, last: number): Promise<number> {
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  let count = 0;
  const dispatcher = new Dispatcher({
    store,
    log: quiet,
    targets: [{ sink, policy: { batchSize: BATCH, maxAttempts: 100, initialDelayMs: 10 } }],
    onDelivered: (_, changes) => {
      count += changes.length;
      if (changes.at(-1)!.seq === last) done();
    },
  });
  const start = performance.now();
  dispatcher.start();
  await finished;
  const seconds = (performance.now() - start) / 1000;
  await dispatcher.stop({ drain: false });
  return Math.round(count / seconds);
}

/** Changes per second a raw client reaches with `publishWindow` over windows of BATCH. */
async function raw(
  changes: Change[],
  publishWindow: (window: Change[]) => Promise<void>,
): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < changes.length; i += BATCH) await publishWindow(changes.slice(i, i + BATCH));
  return Math.round(changes.length / ((performance.now() - start) / 1000));
}

function ratio(sink: number, baseline: number) {
  return {
    sinkPerSecond: sink,
    rawPerSecond: baseline,
    ratio: Math.round((sink / baseline) * 100) / 100,
  };
}

async function nats(store: Store, changes: Change[]) {
  const stream = `CRWBENCH_${process.pid}`;
  const nc = await natsConnect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: stream, subjects: [`crwbench${process.pid}.>`] });
  try {
    const js = nc.jetstream();
    const baseline = await raw(changes, async (window) => {
      await Promise.all(
        window.map((c) =>
          js.publish(`crwbench${process.pid}.raw.${c.seq}`, JSON.stringify(c), {
            msgID: `raw-${c.id}`,
          }),
        ),
      );
    });
    const sink = createNatsSink({
      name: "bus",
      type: "nats",
      url: NATS_URL,
      stream,
      subject: `crwbench${process.pid}.{source}.{kind}`,
    });
    const through = await throughDispatcher(store, sink, changes.at(-1)!.seq);
    return ratio(through, baseline);
  } finally {
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  }
}

async function amqp(store: Store, changes: Change[]) {
  const exchange = `crwbench.${process.pid}`;
  const queue = `${exchange}.q`;
  const model = await amqpConnect(AMQP_URL);
  const admin = await model.createChannel();
  await admin.assertExchange(exchange, "topic", { durable: false });
  await admin.assertQueue(queue, { durable: false });
  await admin.bindQueue(queue, exchange, "#");
  try {
    const channel = await model.createConfirmChannel();
    const baseline = await raw(changes, async (window) => {
      for (const c of window) {
        channel.publish(exchange, "raw", Buffer.from(JSON.stringify(c)), {
          persistent: true,
          mandatory: true,
          messageId: c.id,
        });
      }
      await channel.waitForConfirms();
    });
    await admin.purgeQueue(queue);
    const sink = createAmqpSink({
      name: "mq",
      type: "amqp",
      url: AMQP_URL,
      exchange,
      declare: false,
    });
    const through = await throughDispatcher(store, sink, changes.at(-1)!.seq);
    return ratio(through, baseline);
  } finally {
    await admin.deleteQueue(queue).catch(() => undefined);
    await admin.deleteExchange(exchange).catch(() => undefined);
    await model.close();
  }
}

async function http(store: Store, changes: Change[]) {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  try {
    // One POST after another, as the sink sends them: the same payloads, unsigned.
    const baseline = await raw(changes, async (window) => {
      for (const c of window) {
        const res = await fetch(url, { method: "POST", body: JSON.stringify(c) });
        await res.arrayBuffer();
      }
    });
    const sink = createWebhookSink(
      { name: "hook", type: "webhook", url, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
      systemClock,
    );
    const through = await throughDispatcher(store, sink, changes.at(-1)!.seq);
    return ratio(through, baseline);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const noop: Sink = {
  name: "noop",
  type: "noop",
  deliver: async (changes) => allDelivered(changes),
  close: async () => undefined,
};

/**
 * Delivered changes per second to each sink on loopback, beside a raw client publishing the
 * same payloads in the same run (JetStream with acks, RabbitMQ with confirms, HTTP POST).
 * Each sink starts from cursor 0 of its own store, so it reads the log as serve would.
 */
export async function sinksScenario(): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = { scenario: "sinks", changes: CHANGES, batch: BATCH };
  for (const [name, run] of [
    ["nats", nats],
    ["amqp", amqp],
    ["webhook", http],
  ] as const) {
    const dir = await tempDir("crwatch-bench-sinks-");
    const store = await openSqliteStore({ dir: dir.path });
    try {
      const changes = await fill(store);
      // What the dispatcher alone reaches (log reads, cursor writes): the ceiling of any sink.
      if (name === "nats")
        result.dispatcherOnlyPerSecond = await throughDispatcher(store, noop, changes.at(-1)!.seq);
      result[name] = await run(store, changes);
    } catch (err) {
      result[name] = { error: err instanceof Error ? err.message : String(err) };
    } finally {
      await store.close();
      await dir.cleanup();
    }
  }
  return result;
}
