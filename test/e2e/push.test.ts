import assert from "node:assert/strict";
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { loadConfig } from "../../src/config/load.js";
import { type Crwatch, startCrwatch } from "../../src/main.js";
import { WebhookVerifier } from "../../src/sources/webhook/signature.js";
import { tempDir, waitFor } from "../helpers.js";

const SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const signer = new WebhookVerifier(SECRET, 300_000);
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

/** A port free a moment ago (the webhook source listens on a configured address). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function push(port: number, id: string, body: string): Promise<number> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const headers = {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": signer.sign(id, timestamp, body),
  };
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/", method: "POST", headers, agent },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Pushes through the composition root into SQLite: recorded once each, with actor and cause. */
describe("crwatch with a webhook source", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let crwatch: Crwatch;
  let port: number;

  before(async () => {
    tmp = await tempDir("crwatch-push-e2e-");
    port = await freePort();
    const path = join(tmp.path, "crwatch.yaml");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(
      path,
      `store: { path: ./data }\nsources:\n  - { name: pushes, type: webhook, listen: "127.0.0.1:${port}", secret: "\${PUSH_SECRET}" }\nsinks: []\n`,
    );
    const config = await loadConfig({ configPath: path, env: { PUSH_SECRET: SECRET } });
    crwatch = await startCrwatch(config, { log: pino({ level: "silent" }) });
    await crwatch.ready();
  });
  after(async () => {
    await crwatch.stop();
    await tmp.cleanup();
  });

  it("should record 1,000 concurrent pushes, each sent twice, exactly once each", async () => {
    const bodies = Array.from({ length: 1000 }, (_, i) => ({
      id: `msg_e2e_${i}`,
      body: JSON.stringify({
        actor: { name: "deployer", email: "deployer@example.com" },
        cause: { kind: "deploy", message: `rollout ${i}` },
        upsert: [
          {
            apiVersion: "gateway.networking.k8s.io/v1",
            kind: "HTTPRoute",
            metadata: { name: `r-${i}`, namespace: "shop" },
            spec: { n: i },
          },
        ],
      }),
    }));
    const statuses = await Promise.all([...bodies, ...bodies].map((b) => push(port, b.id, b.body)));
    assert.ok(
      statuses.every((s) => s === 200),
      `statuses ${[...new Set(statuses)].join(",")}`,
    );
    // Every 200 came after its commit: the log holds all of them now, without waiting.
    const changes = await crwatch.store.readChanges({ refContains: "pushes:", limit: 5000 });
    assert.equal(changes.length, 1000);
    assert.equal(new Set(changes.map((c) => c.ref.name)).size, 1000);
    assert.ok(changes.every((c) => c.type === "ADDED"));
    const first = changes.find((c) => c.ref.name === "r-7")!;
    assert.equal(first.actor?.name, "deployer");
    assert.equal(first.actor?.via, "webhook");
    assert.equal(first.cause?.kind, "deploy");
    assert.equal(first.cause?.id, "msg_e2e_7");
    assert.equal((await crwatch.store.verify()).ok, true);
    await waitFor(async () =>
      (await crwatch.store.listSourceHealth()).some(
        (h) => h.source === "pushes" && h.status === "ok",
      ),
    );
  });
});
