import { get, type IncomingMessage } from "node:http";
import { performance } from "node:perf_hooks";

/**
 * The benchmark's SSE clients, in their own process (the parent may start several) so that
 * reading a million events does not steal the server's event loop. The client is made cheap
 * on purpose, the same for the raw baseline and for crwatch: bytes are scanned with
 * Buffer.indexOf (no string decoding, no regex), and (seq, time) pairs go to typed arrays.
 * Receive times are epoch milliseconds (timeOrigin + now), so the parent can subtract its own
 * send times. Protocol over IPC (advanced serialization): "ready" once connected; on "stop"
 * it answers { seqs, times, cpuMs } and exits.
 */
const [url = "", count = "1", token = "", capacityText = "1000000"] = process.argv.slice(2);
let capacity = Math.max(1024, Number(capacityText));
let seqs = new Float64Array(capacity);
let times = new Float64Array(capacity);
let received = 0;
const responses: IncomingMessage[] = [];
const cpuStart = process.cpuUsage();

const BOUNDARY = Buffer.from("\n\n");
const ID = Buffer.from("id: ");
const NEWLINE = 10;
const ZERO = 48;

function record(seq: number, now: number): void {
  if (received === capacity) {
    capacity *= 2;
    const s = new Float64Array(capacity);
    const t = new Float64Array(capacity);
    s.set(seqs);
    t.set(times);
    seqs = s;
    times = t;
  }
  seqs[received] = seq;
  times[received] = now;
  received++;
}

/** The seq of an event block starting at `at` (`id: N\n…`), or -1 when it has no id. */
function idAt(buf: Buffer, at: number, end: number): number {
  if (end - at < ID.length || buf.compare(ID, 0, ID.length, at, at + ID.length) !== 0) return -1;
  let seq = 0;
  for (let i = at + ID.length; i < end && buf[i] !== NEWLINE; i++) {
    seq = seq * 10 + ((buf[i] as number) - ZERO);
  }
  return seq;
}

function connect(): Promise<void> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      responses.push(res);
      // The start of an event whose end has not arrived yet (rare: one write is one chunk).
      let partial: Buffer | undefined;
      res.on("data", (chunk: Buffer) => {
        const now = performance.timeOrigin + performance.now();
        const buf = partial ? Buffer.concat([partial, chunk]) : chunk;
        partial = undefined;
        let at = 0;
        for (;;) {
          const end = buf.indexOf(BOUNDARY, at);
          if (end === -1) {
            if (at < buf.length) partial = Buffer.from(buf.subarray(at));
            return;
          }
          const seq = idAt(buf, at, end);
          if (seq >= 0) record(seq, now);
          at = end + BOUNDARY.length;
        }
      });
      resolve();
    }).on("error", reject);
  });
}

for (let i = 0; i < Number(count); i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, Number(count) - i) }, connect));
}
process.send?.("ready");
process.on("message", (message) => {
  if (message !== "stop") return;
  for (const res of responses) res.destroy();
  const cpu = process.cpuUsage(cpuStart);
  process.send?.(
    {
      seqs: seqs.subarray(0, received),
      times: times.subarray(0, received),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    },
    () => process.exit(0),
  );
});
