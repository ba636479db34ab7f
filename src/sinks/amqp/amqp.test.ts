import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Channel, type ChannelModel, connect, type GetMessage } from "amqplib";
import { waitFor } from "../../../test/helpers.js";
import { closedPort } from "../../../test/sinks/receiver.js";
import { startProxy } from "../../../test/sinks/tcp-proxy.js";
import type { Change } from "../../model/change.js";
import { CrwatchError } from "../../model/errors.js";
import { sampleChange, sinkContract } from "../contract.js";
import type { AmqpSinkConfig } from "./config.js";
import { createAmqpSink } from "./sink.js";

const AMQP_PORT = 5672;
const URL = `amqp://guest:guest@127.0.0.1:${AMQP_PORT}`;
const live = () => new AbortController().signal;

let model: ChannelModel;
let channel: Channel;
let counter = 0;

/** An exchange, with a queue bound to all of it, that no other test (or run) uses. */
async function uniqueTopology(bind = true): Promise<{ exchange: string; queue: string }> {
  counter += 1;
  const exchange = `crwt.${process.pid}.${counter}`;
  const queue = `${exchange}.q`;
  await channel.assertExchange(exchange, "topic", { durable: false, autoDelete: false });
  await channel.assertQueue(queue, { durable: false, autoDelete: false });
  if (bind) await channel.bindQueue(queue, exchange, "#");
  return { exchange, queue };
}

async function dropTopology(t: { exchange: string; queue: string }): Promise<void> {
  await channel.deleteQueue(t.queue).catch(() => undefined);
  await channel.deleteExchange(t.exchange).catch(() => undefined);
}

/** Everything a queue received so far (taken off the queue, kept here). */
function collector(queue: string): () => Promise<GetMessage[]> {
  const got: GetMessage[] = [];
  return async () => {
    for (
      let m = await channel.get(queue, { noAck: true });
      m;
      m = await channel.get(queue, { noAck: true })
    )
      got.push(m);
    return got;
  };
}

const seqOf = (m: GetMessage) => (JSON.parse(m.content.toString()) as Change).seq;

function config(exchange: string, extra: Partial<AmqpSinkConfig> = {}): AmqpSinkConfig {
  return {
    name: "mq",
    type: "amqp",
    url: URL,
    exchange,
    routingKey: "{source}.{group}.{kind}",
    ...extra,
  };
}

before(async () => {
  model = await connect(URL);
  channel = await model.createChannel();
});
after(async () => model.close());

sinkContract("amqp to real RabbitMQ", async () => {
  const topology = await uniqueTopology();
  const port = await closedPort();
  const received = collector(topology.queue);
  return {
    // declare: false — the test's exchange is not durable; the sink must not redeclare it.
    sink: createAmqpSink(config(topology.exchange, { declare: false })),
    broken: createAmqpSink(
      config(topology.exchange, { url: `amqp://guest:guest@127.0.0.1:${port}` }),
    ),
    delivered: async () => (await received()).map(seqOf),
    receivedIds: async () => (await received()).map((m) => String(m.properties.messageId)),
    cleanup: () => dropTopology(topology),
  };
});

describe("amqp sink", () => {
  it("should publish persistent messages with the change id, routed by the key template", async () => {
    const topology = await uniqueTopology(false);
    await channel.bindQueue(topology.queue, topology.exchange, "s.gateway_networking_k8s_io.*");
    const sink = createAmqpSink(config(topology.exchange, { declare: false }));
    try {
      assert.deepStrictEqual(await sink.deliver([sampleChange(1)], live()), [
        { status: "delivered" },
      ]);
      const [message] = await collector(topology.queue)();
      assert.equal(message!.fields.routingKey, "s.gateway_networking_k8s_io.HTTPRoute");
      assert.equal(message!.properties.deliveryMode, 2);
      assert.equal(message!.properties.messageId, sampleChange(1).id);
      assert.equal(message!.properties.contentType, "application/json");
      assert.equal(seqOf(message!), 1);
    } finally {
      await sink.close();
      await dropTopology(topology);
    }
  });

  it("should declare a durable exchange of its own when asked to", async () => {
    counter += 1;
    const exchange = `crwt.${process.pid}.${counter}.own`;
    const sink = createAmqpSink(config(exchange));
    try {
      const [outcome] = await sink.deliver([sampleChange(1)], live());
      assert.equal(outcome!.status, "retry", "no queue is bound yet: unroutable");
      await channel.checkExchange(exchange);
    } finally {
      await sink.close();
      await channel.deleteExchange(exchange).catch(() => undefined);
    }
  });

  it("should retry an unroutable message (returned), and deliver once a queue is bound", async () => {
    const topology = await uniqueTopology(false);
    const sink = createAmqpSink(config(topology.exchange, { declare: false }));
    try {
      const [first] = await sink.deliver([sampleChange(1)], live());
      assert.equal(first!.status, "retry");
      assert.match(first!.status === "retry" ? first!.error : "", /unroutable/);
      await channel.bindQueue(topology.queue, topology.exchange, "#");
      assert.deepStrictEqual(await sink.deliver([sampleChange(1)], live()), [
        { status: "delivered" },
      ]);
      assert.deepStrictEqual((await collector(topology.queue)()).map(seqOf), [1]);
    } finally {
      await sink.close();
      await dropTopology(topology);
    }
  });

  it("should retry while the exchange does not exist (channel closed), then recover", async () => {
    counter += 1;
    const exchange = `crwt.${process.pid}.${counter}.missing`;
    const sink = createAmqpSink(config(exchange, { declare: false }));
    try {
      const [outcome] = await sink.deliver([sampleChange(1)], live());
      assert.equal(outcome!.status, "retry");
      assert.match(sink.health?.().lastError ?? "", /404|NOT_FOUND|closed/i);
      // Once the exchange exists, the sink opens a fresh channel instead of the closed one.
      await channel.assertExchange(exchange, "topic", { durable: false });
      await channel.assertQueue(`${exchange}.q`, { durable: false });
      await channel.bindQueue(`${exchange}.q`, exchange, "#");
      assert.deepStrictEqual(await sink.deliver([sampleChange(1)], live()), [
        { status: "delivered" },
      ]);
      assert.deepStrictEqual((await collector(`${exchange}.q`)()).map(seqOf), [1]);
    } finally {
      await sink.close();
      await dropTopology({ exchange, queue: `${exchange}.q` });
    }
  });

  it("should throw (retry all) when the broker refuses the connection", async () => {
    const port = await closedPort();
    const sink = createAmqpSink(config("x", { url: `amqp://guest:guest@127.0.0.1:${port}` }));
    await assert.rejects(
      sink.deliver([sampleChange(1)], live()),
      (err: unknown) =>
        err instanceof CrwatchError &&
        err.code === "CRW_SINK_DELIVERY" &&
        !/guest/.test(err.message),
    );
    await sink.close();
  });

  it("should retry across a dropped connection and lose nothing once it is back", async () => {
    const topology = await uniqueTopology();
    const proxy = await startProxy(AMQP_PORT);
    const sink = createAmqpSink(
      config(topology.exchange, {
        declare: false,
        url: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
      }),
    );
    try {
      assert.deepStrictEqual(await sink.deliver([sampleChange(1)], live()), [
        { status: "delivered" },
      ]);
      proxy.cut();
      const during = await sink.deliver([sampleChange(2)], live()).catch(() => null);
      assert.ok(during === null || during.every((o) => o.status === "retry"));
      proxy.resume();
      await waitFor(
        async () =>
          (await sink.deliver([sampleChange(2)], live()).catch(() => []))[0]?.status ===
          "delivered",
        20_000,
        "delivery after reconnect",
      );
      const seqs = (await collector(topology.queue)()).map(seqOf);
      // At least once: 2 may also have reached the queue before the cut was noticed.
      assert.deepStrictEqual([...new Set(seqs)], [1, 2]);
    } finally {
      await sink.close();
      await proxy.close();
      await dropTopology(topology);
    }
  });

  it("should refuse an unknown routing-key field with CRW_SINK_CONFIG", () => {
    assert.throws(
      () => createAmqpSink(config("x", { routingKey: "{zone}" })),
      (err: unknown) => err instanceof CrwatchError && err.code === "CRW_SINK_CONFIG",
    );
  });
});
