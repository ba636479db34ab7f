import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { waitFor } from "../../test/helpers.js";
import type { Change } from "../model/change.js";
import { type Api, type ApiServer, buildApi, startApiServer } from "./server.js";
import { readEvents, type SseEvent } from "./sse.js";
import { edits, type Fixture, fixture, sampleChanges, TOKENS, testConfig } from "./test-kit.js";

const auth = { Authorization: `Bearer ${TOKENS.viewer}` };

/** Takes the next `n` change events of a stream. */
async function take(events: AsyncGenerator<SseEvent>, n: number): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  while (out.length < n) {
    const { value, done } = await events.next();
    if (done) throw new Error(`stream ended after ${out.length} of ${n} events`);
    if (value.event === "change") out.push(value);
  }
  return out;
}

const ids = (events: SseEvent[]) => events.map((e) => Number(e.id));

describe("watch: over a real socket", () => {
  let fx: Fixture;
  let server: ApiServer;
  beforeEach(async () => {
    fx = await fixture();
    server = await startApiServer(fx.deps);
  });
  afterEach(async () => {
    await server.stop();
    await fx.cleanup();
  });

  it("should resume with Last-Event-ID after a disconnect with nothing missed or doubled", async () => {
    await fx.commit(sampleChanges()); // 1-3
    const first = new AbortController();
    const res = await fetch(`${server.url}/api/v1/watch?since=0`, {
      headers: auth,
      signal: first.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    const events = readEvents(res.body as ReadableStream<Uint8Array>);
    const seen = await take(events, 3);
    await fx.commit(edits("cart", 1, 2)); // 4-5, live
    seen.push(...(await take(events, 2)));
    first.abort();
    await events.return(undefined).catch(() => undefined);
    await waitFor(() => server.hub.size === 0, 10_000, "the server to notice the disconnect");

    await fx.commit(edits("cart", 3, 3)); // 6-8, missed while away
    const last = seen[seen.length - 1]?.id as string;
    const again = await fetch(`${server.url}/api/v1/watch?since=0`, {
      headers: { ...auth, "Last-Event-ID": last },
    });
    const resumed = readEvents(again.body as ReadableStream<Uint8Array>);
    seen.push(...(await take(resumed, 3)));
    await fx.commit(edits("cart", 6, 1)); // 9, live again
    seen.push(...(await take(resumed, 1)));
    assert.deepEqual(ids(seen), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const change = JSON.parse(seen[8]?.data as string) as Change;
    assert.equal(change.seq, 9);
    assert.equal(change.ref.name, "cart");
    await resumed.return(undefined);
  });

  it("should group streams by filter and give each stream of a group the same events", async () => {
    const aborts: AbortController[] = [];
    const open = async (query: string) => {
      const abort = new AbortController();
      aborts.push(abort);
      const res = await fetch(`${server.url}/api/v1/watch?since=0${query}`, {
        headers: auth,
        signal: abort.signal,
      });
      return readEvents(res.body as ReadableStream<Uint8Array>);
    };
    // Two equal filters (the list parameters in another order), one other, one without.
    const streams = [
      await open("&type=MODIFIED,ADDED&name=cart"),
      await open("&name=cart&type=ADDED,MODIFIED"),
      await open("&type=MODIFIED"),
      await open(""),
    ];
    await waitFor(() => server.hub.filterClasses === 3, 10_000, "the streams to go live");
    // One commit of several changes: the hub writes them to each socket corked, in one go.
    await fx.commit([...sampleChanges(), ...edits("cart", 1, 3)]); // 1-3, then cart 4-6
    const [cartA, cartB, modified, all] = await Promise.all([
      take(streams[0]!, 3),
      take(streams[1]!, 3),
      take(streams[2]!, 3),
      take(streams[3]!, 6),
    ]);
    assert.deepEqual(ids(cartA), [4, 5, 6]);
    assert.deepEqual(cartB, cartA);
    assert.deepEqual(ids(modified), [2, 5, 6]);
    assert.deepEqual(ids(all), [1, 2, 3, 4, 5, 6]);
    for (const abort of aborts) abort.abort();
    for (const events of streams) await events.return(undefined).catch(() => undefined);
    await waitFor(() => server.hub.size === 0, 10_000, "the server to notice the disconnects");
    assert.equal(server.hub.filterClasses, 0);
  });

  it("should refuse a watch without a token and a bad Last-Event-ID", async () => {
    const anonymous = await fetch(`${server.url}/api/v1/watch`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const bad = await fetch(`${server.url}/api/v1/watch`, {
      headers: { ...auth, "Last-Event-ID": "yesterday" },
    });
    assert.equal(bad.status, 400);
    assert.equal(
      ((await bad.json()) as { error: { parameter: string } }).error.parameter,
      "Last-Event-ID",
    );
  });
});

describe("watch: a slow client on a real socket", () => {
  let fx: Fixture;
  let server: ApiServer;
  beforeEach(async () => {
    fx = await fixture(testConfig({ watch: { maxBuffered: 5, heartbeatMs: 60_000 } }));
    server = await startApiServer(fx.deps);
  });
  afterEach(async () => {
    await server.stop();
    await fx.cleanup();
  });

  it("should cut off a client that stops reading once the socket is full", async () => {
    const { get } = await import("node:http");
    const paused = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
      get(`${server.url}/api/v1/watch`, { headers: auth, agent: false }, (res) => {
        res.pause(); // reads nothing more: the kernel buffers fill, then Node's, then ours
        resolve(res);
      }).on("error", reject);
    });
    await waitFor(() => server.hub.size === 1);
    // 400 changes of ~64 KiB each: far more than loopback socket buffers hold.
    const big = "x".repeat(64 * 1024);
    const changes = edits("cart", 1, 400).map((c) => ({ ...c, summary: [big] }));
    await fx.commit(changes);
    await waitFor(() => server.hub.size === 0, 30_000, "the slow client to be cut off");
    const ended = await server.metrics.registry.getSingleMetricAsString(
      "crwatch_watch_streams_ended_total",
    );
    assert.match(ended, /reason="slow"\} 1/);
    paused.destroy();
  });
});

describe("watch: in process", () => {
  let fx: Fixture;
  let api: Api;
  const open = (query: string, headers: Record<string, string> = {}) =>
    api.app.request(`/api/v1/watch${query}`, { headers: { ...auth, ...headers } });

  afterEach(async () => {
    await api.close();
    await fx.cleanup();
  });

  describe("with room to spare", () => {
    beforeEach(async () => {
      fx = await fixture();
      api = await buildApi(fx.deps);
    });

    it("should apply the list's filters to the backlog and to live changes alike", async () => {
      await fx.commit(sampleChanges()); // 1-3
      const res = await open("?since=0&type=MODIFIED");
      const events = readEvents(res.body as ReadableStream<Uint8Array>);
      const backlog = await take(events, 1);
      await fx.commit(edits("cart", 1, 3)); // 4 ADDED, 5-6 MODIFIED
      const live = await take(events, 2);
      assert.deepEqual(ids([...backlog, ...live]), [2, 5, 6]);
      await events.return(undefined);
    });

    it("should start after the log's end when no position is given", async () => {
      await fx.commit(sampleChanges());
      const res = await open("");
      const events = readEvents(res.body as ReadableStream<Uint8Array>);
      await fx.commit(edits("cart", 1, 1));
      assert.deepEqual(ids(await take(events, 1)), [4]);
      await events.return(undefined);
    });

    it("should read a backlog larger than its buffer at the client's pace", async () => {
      await fx.commit(edits("cart", 1, 2500));
      const res = await open("?since=100");
      const events = readEvents(res.body as ReadableStream<Uint8Array>);
      const all = await take(events, 2400);
      assert.equal(all[0]?.id, "101");
      assert.equal(all[2399]?.id, "2500");
      assert.equal(api.hub.size, 1);
      await events.return(undefined);
    });

    it("should answer 400 for a bad filter", async () => {
      const res = await open("?severity=urgent");
      assert.equal(res.status, 400);
    });
  });

  describe("with a small buffer", () => {
    beforeEach(async () => {
      fx = await fixture(testConfig({ watch: { maxBuffered: 5, heartbeatMs: 60_000 } }));
      api = await buildApi(fx.deps);
    });

    it("should disconnect a subscriber that does not read rather than buffer without bound", async () => {
      const res = await open("");
      assert.equal(res.status, 200);
      await waitFor(() => api.hub.size === 1);
      // The client reads nothing while 20 changes arrive; the stream holds at most 5.
      await fx.commit(edits("cart", 1, 20));
      await waitFor(() => api.hub.size === 0, 10_000, "the slow stream to be dropped");
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await assert.rejects(reader.read(), { code: "CRW_API_SLOW_SUBSCRIBER" });
      const metrics = await api.metrics.registry.getSingleMetricAsString(
        "crwatch_watch_streams_ended_total",
      );
      assert.match(metrics, /reason="slow"\} 1/);
    });

    it("should keep a subscriber that reads as fast as changes come", async () => {
      const res = await open("");
      const events = readEvents(res.body as ReadableStream<Uint8Array>);
      await waitFor(() => api.hub.size === 1);
      const seen: SseEvent[] = [];
      for (let i = 0; i < 4; i++) {
        await fx.commit(edits("cart", i * 4 + 1, 4));
        seen.push(...(await take(events, 4)));
      }
      assert.deepEqual(
        ids(seen),
        Array.from({ length: 16 }, (_, i) => i + 1),
      );
      assert.equal(api.hub.size, 1);
      await events.return(undefined);
    });
  });
});
