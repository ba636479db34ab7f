import { createInterface } from "node:readline";
import { installFixtureCrds } from "../test/fake-kube/fixtures.js";
import { FakeKubeServer } from "../test/fake-kube/server.js";
import { makeRoute } from "./objects.js";

/**
 * The fake API server in its own process for the benchmark (so the measured process holds
 * only crwatch): seeds N HTTPRoutes, prints its URL, then takes commands on stdin:
 * `burst RATE SECONDS` writes RATE modifications per second, each stamped with its write
 * time in an annotation, and prints `done N` when finished; `cpu` prints `cpu µs` (its CPU
 * time so far, user and system).
 */
const count = Number(process.argv[2] ?? 1000);
// The burst's history is not kept whole: 300k revisions of 3 KiB objects would cost this
// process gigabytes and its collector the CPU the measured process shares.
const server = new FakeKubeServer({ retainEvents: 100_000 });
const url = await server.start();
await installFixtureCrds(server, ["HTTPRoute"]);
for (let i = 0; i < count; i++) server.apply(stamped(i, 0, 0), "bench");
process.stdout.write(`${url}\n`);

function stamped(i: number, version: number, at: number) {
  const route = makeRoute(i, version) as { metadata: Record<string, unknown> };
  const { resourceVersion: _rv, ...metadata } = route.metadata;
  metadata.annotations = { ...(metadata.annotations as object), "bench/at": String(at) };
  return { ...route, metadata };
}

async function burst(rate: number, seconds: number): Promise<void> {
  const started = Date.now();
  let n = 0;
  while (Date.now() - started < seconds * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * rate);
    server.corked(() => {
      for (; n < due; n++)
        server.apply(stamped(n % count, 1 + Math.floor(n / count), Date.now()), "bench");
    });
    await new Promise((r) => setTimeout(r, 10));
  }
  process.stdout.write(`done ${n}\n`);
}

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, a, b] = line.trim().split(/\s+/);
  if (cmd === "burst") await burst(Number(a), Number(b));
  if (cmd === "cpu") {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`cpu ${user + system}\n`);
  }
  if (cmd === "quit") break;
}
await server.close();
