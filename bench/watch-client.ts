import { get, type IncomingMessage } from "node:http";
import { performance } from "node:perf_hooks";

/**
 * The benchmark's SSE clients, in their own process so that parsing a million events does not
 * steal the server's event loop. Receive times are epoch milliseconds (timeOrigin + now), so
 * the parent can subtract its own send times. Protocol over IPC: "ready" once connected;
 * on "stop" it answers { seqs, times } and exits.
 */
const [url = "", count = "1", token = ""] = process.argv.slice(2);
const seqs: number[] = [];
const times: number[] = [];
const responses: IncomingMessage[] = [];

function connect(): Promise<void> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      responses.push(res);
      let tail = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const now = performance.timeOrigin + performance.now();
        const text = tail + chunk;
        const cut = text.lastIndexOf("\n\n");
        tail = cut === -1 ? text : text.slice(cut + 2);
        if (cut === -1) return;
        for (const m of text.slice(0, cut).matchAll(/^id: (\d+)$/gm)) {
          seqs.push(Number(m[1]));
          times.push(now);
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
  process.send?.({ seqs, times }, () => process.exit(0));
});
