import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir, waitFor } from "../helpers.js";
import { type Receiver, startReceiver } from "../sinks/receiver.js";
import { verifyStandardWebhook } from "../sinks/verify-webhook.js";
import { readHistory, serve, stop, waitUntilWatching } from "./process.js";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

describe("webhook delivery across a kill -9", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let receiver: Receiver;
  before(async () => {
    tmp = await tempDir("crwatch-webhook-crash-");
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
    await tmp.cleanup();
  });

  it("should deliver every change at least once after a restart, repeats with the same id", async () => {
    const watched = join(tmp.path, "cfg");
    await mkdir(watched);
    for (const name of ["a", "b", "c", "d", "e"]) {
      await writeFile(
        join(watched, `${name}.yaml`),
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata: {k: v}\n`,
      );
    }
    const config = join(tmp.path, "crwatch.yaml");
    await writeFile(
      config,
      [
        "store: {path: ./data}",
        "sources: [{name: cfg, type: files, paths: [./cfg]}]",
        `sinks: [{name: hook, type: webhook, url: "${receiver.url}", secret: "\${HOOK_SECRET}"}]`,
        "",
      ].join("\n"),
    );
    process.env.HOOK_SECRET = SECRET;
    // Two arrive, then the receiver fails: crwatch is killed while it retries.
    receiver.answer = (n) => ({ status: n <= 2 ? 200 : 500 });
    let served = serve(["--config", config]);
    await waitUntilWatching(served);
    await waitFor(() => receiver.requests.length >= 4, 20_000, "deliveries and failures");
    assert.equal((await stop(served, "SIGKILL")).signal, "SIGKILL");
    assert.doesNotMatch(
      served.stderr() + served.stdout(),
      /whsec_|MfKQ9r8/,
      "the secret is never logged",
    );

    receiver.answer = () => ({ status: 200 });
    served = serve(["--config", config]);
    await waitUntilWatching(served);
    const history = await readHistory(join(tmp.path, "data"), true);
    const accepted = () =>
      receiver.requests
        .filter((r) => r.status === 200)
        .map((r) => {
          assert.ok(verifyStandardWebhook(SECRET, r.headers, r.body));
          const event = JSON.parse(r.body) as { id: string; data: { id: string; seq: number } };
          assert.equal(r.headers["webhook-id"], event.id);
          return event.data;
        });
    await waitFor(
      () => new Set(accepted().map((c) => c.id)).size === history.length,
      20_000,
      "every change to arrive",
    );
    assert.equal((await stop(served)).code, 0, served.stderr());
    assert.doesNotMatch(served.stderr() + served.stdout(), /whsec_|MfKQ9r8/);
    const bySeq = new Map(history.map((c) => [c.seq, c.id]));
    for (const c of accepted()) assert.equal(c.id, bySeq.get(c.seq), `seq ${c.seq} keeps its id`);
  });
});
