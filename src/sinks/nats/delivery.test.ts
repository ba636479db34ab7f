import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import pino from "pino";
import { tempDir, waitFor } from "../../../test/helpers.js";
import { startProxy } from "../../../test/sinks/tcp-proxy.js";
import type { Change, NewChange } from "../../model/change.js";
import { openSqliteStore } from "../../store/sqlite/store.js";
import { Dispatcher } from "../dispatcher.js";
import { createNatsSink } from "./sink.js";

const NATS_PORT = 4222;

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

describe("NATS delivery through the dispatcher across a broker outage", () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  before(async () => {
    nc = await connect({ servers: `nats://127.0.0.1:${NATS_PORT}` });
    jsm = await nc.jetstreamManager();
  });
  after(async () => nc.close());

  it("should store every change once, in order, after the connection comes back", async () => {
    const stream = `CRWT_${process.pid}_outage`;
    const prefix = `crwt${process.pid}outage`;
    const dir = await tempDir();
    const store = await openSqliteStore({ dir: dir.path });
    const proxy = await startProxy(NATS_PORT);
    const sink = createNatsSink({
      name: "bus",
      type: "nats",
      url: `nats://127.0.0.1:${proxy.port}`,
      stream: { name: stream, subjects: [`${prefix}.>`], create: true },
      subject: `${prefix}.{source}.{name}`,
      ackTimeoutMs: 500,
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
    try {
      const committed: Change[] = await commit(changeOf("a", 1), changeOf("b", 1));
      dispatcher.start();
      await waitFor(
        async () => (await store.getConsumerCursor("sink:bus")) === 2,
        20_000,
        "first part",
      );
      proxy.cut();
      committed.push(...(await commit(changeOf("a", 2), changeOf("c", 1), changeOf("a", 3))));
      dispatcher.wake();
      // While the broker is unreachable the cursor cannot move past the stored changes.
      await waitFor(
        () => sink.health?.().lastError !== undefined,
        20_000,
        "a failed attempt while cut",
      );
      assert.equal(await store.getConsumerCursor("sink:bus"), 2);
      proxy.resume();
      await waitFor(
        async () => (await store.getConsumerCursor("sink:bus")) === committed.at(-1)!.seq,
        30_000,
        "delivery after the outage",
      );
      const info = await jsm.streams.info(stream);
      const stored: { seq: number; id: string }[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq });
        stored.push({ seq: (m.json() as Change).seq, id: m.header.get("Nats-Msg-Id") });
      }
      // Nats-Msg-Id de-duplication: a publish that reached the server before the cut and was
      // retried after it is stored once.
      assert.deepStrictEqual(stored.map((m) => m.id).sort(), committed.map((c) => c.id).sort());
      // Per ref, in seq order (a1, a2, a3); refs may interleave differently.
      const aSeqs = stored.map((m) => m.seq).filter((seq) => [1, 3, 5].includes(seq));
      assert.deepStrictEqual(aSeqs, [1, 3, 5]);
      assert.deepStrictEqual(await store.listDeadLetters(), []);
    } finally {
      await dispatcher.stop({ drain: false });
      await proxy.close();
      await jsm.streams.delete(stream).catch(() => undefined);
      await store.close();
      await dir.cleanup();
    }
  });
});
