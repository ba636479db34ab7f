import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { waitFor } from "../../../test/helpers.js";
import { closedPort } from "../../../test/sinks/receiver.js";
import { startProxy } from "../../../test/sinks/tcp-proxy.js";
import type { Change } from "../../model/change.js";
import { CrwatchError } from "../../model/errors.js";
import { sampleChange, sinkContract } from "../contract.js";
import type { NatsSinkConfig } from "./config.js";
import { createNatsSink } from "./sink.js";

const NATS_PORT = 4222;
const URL = `nats://127.0.0.1:${NATS_PORT}`;
const live = () => new AbortController().signal;

let nc: NatsConnection;
let jsm: JetStreamManager;
let counter = 0;

/** A stream and subject prefix no other test (or run) uses. */
function unique(): { stream: string; prefix: string } {
  counter += 1;
  return { stream: `CRWT_${process.pid}_${counter}`, prefix: `crwt${process.pid}n${counter}` };
}

/** The messages a stream holds, in stream order. */
async function stored(stream: string): Promise<{ seq: number; id: string; subject: string }[]> {
  const info = await jsm.streams.info(stream);
  const out: { seq: number; id: string; subject: string }[] = [];
  for (
    let seq = info.state.first_seq;
    seq <= info.state.last_seq && info.state.messages > 0;
    seq++
  ) {
    const m = await jsm.streams.getMessage(stream, { seq });
    out.push({
      seq: (m.json() as Change).seq,
      id: m.header.get("Nats-Msg-Id"),
      subject: m.subject,
    });
  }
  return out;
}

async function dropStream(stream: string): Promise<void> {
  await jsm.streams.delete(stream).catch(() => undefined);
}

function config(
  stream: string,
  prefix: string,
  extra: Partial<NatsSinkConfig> = {},
): NatsSinkConfig {
  return {
    name: "bus",
    type: "nats",
    url: URL,
    stream: { name: stream, subjects: [`${prefix}.>`], create: true },
    subject: `${prefix}.{source}.{group}.{kind}`,
    ackTimeoutMs: 1000,
    ...extra,
  };
}

before(async () => {
  nc = await connect({ servers: URL });
  jsm = await nc.jetstreamManager();
});
after(async () => nc.close());

sinkContract("nats jetstream (real server)", async () => {
  const { stream, prefix } = unique();
  const port = await closedPort();
  return {
    sink: createNatsSink(config(stream, prefix)),
    broken: createNatsSink(config(stream, prefix, { url: `nats://127.0.0.1:${port}` })),
    delivered: async () => (await stored(stream)).map((m) => m.seq),
    receivedIds: async () => (await stored(stream)).map((m) => m.id),
    cleanup: () => dropStream(stream),
  };
});

describe("nats sink", () => {
  it("should create the stream on file storage and publish to a sanitized subject", async () => {
    const { stream, prefix } = unique();
    const sink = createNatsSink(config(stream, prefix));
    try {
      const change = { ...sampleChange(1), ref: { ...sampleChange(1).ref, source: "a b*>" } };
      const outcomes = await sink.deliver([change], live());
      assert.deepStrictEqual(outcomes, [{ status: "delivered" }]);
      const info = await jsm.streams.info(stream);
      assert.equal(info.config.storage, "file");
      assert.ok(info.config.duplicate_window > 0);
      const [message] = await stored(stream);
      assert.equal(message!.subject, `${prefix}.a_b__.gateway_networking_k8s_io.HTTPRoute`);
      assert.equal(message!.id, change.id);
    } finally {
      await sink.close();
      await dropStream(stream);
    }
  });

  it("should let the server drop a redelivery by Nats-Msg-Id", async () => {
    const { stream, prefix } = unique();
    const sink = createNatsSink(config(stream, prefix));
    try {
      await sink.deliver([sampleChange(1), sampleChange(2)], live());
      const again = await sink.deliver([sampleChange(2)], live());
      assert.deepStrictEqual(again, [{ status: "delivered" }]);
      assert.deepStrictEqual(
        (await stored(stream)).map((m) => m.seq),
        [1, 2],
      );
    } finally {
      await sink.close();
      await dropStream(stream);
    }
  });

  it("should give retry outcomes while the stream is missing, and deliver once it exists", async () => {
    const { stream, prefix } = unique();
    const sink = createNatsSink(config(stream, prefix, { stream: stream }));
    try {
      const [outcome] = await sink.deliver([sampleChange(1)], live());
      assert.equal(outcome!.status, "retry");
      assert.match(sink.health?.().lastError ?? "", /no JetStream stream/);
      await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
      assert.deepStrictEqual(await sink.deliver([sampleChange(1)], live()), [
        { status: "delivered" },
      ]);
    } finally {
      await sink.close();
      await dropStream(stream);
    }
  });

  it("should throw (retry all) when no server listens, without crashing", async () => {
    const { stream, prefix } = unique();
    const port = await closedPort();
    const sink = createNatsSink(config(stream, prefix, { url: `nats://127.0.0.1:${port}` }));
    await assert.rejects(
      sink.deliver([sampleChange(1)], live()),
      (err: unknown) => err instanceof CrwatchError && err.code === "CRW_SINK_DELIVERY",
    );
    await sink.close();
  });

  it("should retry across a dropped connection and lose nothing once it is back", async () => {
    const { stream, prefix } = unique();
    const proxy = await startProxy(NATS_PORT);
    const sink = createNatsSink(config(stream, prefix, { url: `nats://127.0.0.1:${proxy.port}` }));
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
      assert.deepStrictEqual(
        (await stored(stream)).map((m) => m.seq),
        [1, 2],
      );
    } finally {
      await sink.close();
      await proxy.close();
      await dropStream(stream);
    }
  });

  it("should refuse an unknown subject field with CRW_SINK_CONFIG", () => {
    assert.throws(
      () => createNatsSink({ name: "b", type: "nats", url: URL, subject: "x.{cluster}" }),
      (err: unknown) => err instanceof CrwatchError && err.code === "CRW_SINK_CONFIG",
    );
  });
});
