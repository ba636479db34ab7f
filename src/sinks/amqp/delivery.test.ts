import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Channel, type ChannelModel, connect, type GetMessage } from "amqplib";
import pino from "pino";
import { tempDir, waitFor } from "../../../test/helpers.js";
import { startProxy } from "../../../test/sinks/tcp-proxy.js";
import type { Change, NewChange } from "../../model/change.js";
import { openSqliteStore } from "../../store/sqlite/store.js";
import { Dispatcher } from "../dispatcher.js";
import { createAmqpSink } from "./sink.js";

const AMQP_PORT = 5672;

function changeOf(name: string, revision: number): NewChange {
  const label = `${name}${revision}`;
  return {
    type: revision === 1 ? "ADDED" : "MODIFIED",
    ref: { source: "s", group: "", kind: "ConfigMap", namespace: "ns", name },
    revision,
    previousRevision: revision === 1 ? null : revision - 1,
    actor: null,
    cause: null,
    location: null,
    observedAt: "2026-01-01T00:00:00.000Z",
    patch: [{ op: "add", path: "/data", value: { k: label } }],
    summary: [`data: ${label}`],
    findings: [],
    notice: null,
    object: { data: { k: label } },
    contentHash: label.padEnd(64, "0"),
  };
}

describe("RabbitMQ delivery through the dispatcher across a broker outage", () => {
  let model: ChannelModel;
  let channel: Channel;
  before(async () => {
    model = await connect(`amqp://guest:guest@127.0.0.1:${AMQP_PORT}`);
    channel = await model.createChannel();
  });
  after(async () => model.close());

  it("should get every change to the queue, repeats with the same id, per-ref order kept", async () => {
    const exchange = `crwt.${process.pid}.outage`;
    const queue = `${exchange}.q`;
    await channel.assertExchange(exchange, "topic", { durable: false });
    await channel.assertQueue(queue, { durable: false });
    await channel.bindQueue(queue, exchange, "#");
    const dir = await tempDir();
    const store = await openSqliteStore({ dir: dir.path });
    const proxy = await startProxy(AMQP_PORT);
    const sink = createAmqpSink({
      name: "mq",
      type: "amqp",
      url: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
      exchange,
      declare: false,
    });
    const dispatcher = new Dispatcher({
      store,
      log: pino({ level: "silent" }),
      pollIntervalMs: 20,
      targets: [
        { sink, policy: { batchSize: 3, initialDelayMs: 1, maxDelayMs: 20, maxAttempts: 10_000 } },
      ],
    });
    const commit = (...changes: NewChange[]) =>
      store.commit({ changes, cursors: [], resolvedProblems: [] });
    const got: GetMessage[] = [];
    const received = async () => {
      for (
        let m = await channel.get(queue, { noAck: true });
        m;
        m = await channel.get(queue, { noAck: true })
      )
        got.push(m);
      return got.map((m) => JSON.parse(m.content.toString()) as Change);
    };
    try {
      const committed: Change[] = await commit(changeOf("a", 1), changeOf("b", 1));
      dispatcher.start();
      await waitFor(
        async () => (await store.getConsumerCursor("sink:mq")) === 2,
        20_000,
        "first part",
      );
      proxy.cut();
      committed.push(...(await commit(changeOf("a", 2), changeOf("c", 1), changeOf("a", 3))));
      dispatcher.wake();
      await waitFor(
        () => sink.health?.().lastError !== undefined,
        20_000,
        "a failed attempt while cut",
      );
      assert.equal(await store.getConsumerCursor("sink:mq"), 2);
      proxy.resume();
      await waitFor(
        async () => (await store.getConsumerCursor("sink:mq")) === committed.at(-1)!.seq,
        30_000,
        "delivery after the outage",
      );
      const changes = await received();
      for (const [i, m] of got.entries()) assert.equal(m.properties.messageId, changes[i]!.id);
      const firstArrivals = changes.filter((c, i) => changes.findIndex((d) => d.id === c.id) === i);
      assert.deepStrictEqual(
        firstArrivals.map((c) => c.id).sort(),
        committed.map((c) => c.id).sort(),
      );
      assert.deepStrictEqual(
        firstArrivals.filter((c) => c.ref.name === "a").map((c) => c.seq),
        [1, 3, 5],
      );
    } finally {
      await dispatcher.stop({ drain: false });
      await proxy.close();
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.deleteExchange(exchange).catch(() => undefined);
      await store.close();
      await dir.cleanup();
    }
  });
});
