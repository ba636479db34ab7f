import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { pino } from "pino";
import { FakeKong } from "../../../test/fake-admin-apis.js";
import { FakeCommit } from "../../../test/fake-commit.js";
import { tempDir, waitFor } from "../../../test/helpers.js";
import { FakeClock } from "../../core/clock.js";
import { type RuntimeHealth, SourceRuntime } from "../runtime.js";
import type { HttpTlsConfig } from "./config.js";
import { createHttpSource } from "./source.js";

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl. */
async function makeCertificates(dir: string): Promise<void> {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=crwatch test CA",
  );
  await writeFile(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\n");
  for (const name of ["server", "client"]) {
    run("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    const ext = name === "server" ? ["-extfile", "server.ext"] : [];
    run(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      ...ext,
    );
  }
}

describe("http source over TLS", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let kong: FakeKong;
  let url: string;
  const runtimes: SourceRuntime[] = [];

  before(async () => {
    dir = await tempDir("crwatch-tls-");
    await makeCertificates(dir.path);
    kong = new FakeKong(undefined);
    kong.addService("shop");
    const file = (name: string) => readFile(join(dir.path, name));
    url = await kong.start({
      key: await file("server.key"),
      cert: await file("server.pem"),
      ca: await file("ca.pem"),
    });
  });
  afterEach(async () => {
    for (const runtime of runtimes.splice(0)) await runtime.stop();
  });
  after(async () => {
    await kong.stop();
    await dir.cleanup();
  });

  async function poll(
    tls: HttpTlsConfig | undefined,
  ): Promise<{ commit: FakeCommit; health: RuntimeHealth }> {
    const commit = new FakeCommit();
    const health: RuntimeHealth[] = [];
    let polls = 0;
    const source = createHttpSource(
      { name: "k", type: "http", preset: "kong", url, ...(tls ? { tls } : {}) },
      { random: () => 0, onPoll: () => void polls++ },
    );
    const runtime = new SourceRuntime([source], {
      commit: commit.commit,
      loadCursors: async () => ({}),
      onHealth: (h) => health.push(h),
      log: pino({ level: "silent" }),
      clock: new FakeClock(),
    });
    runtimes.push(runtime);
    runtime.start();
    await waitFor(() => polls >= 1);
    return { commit, health: health.at(-1)! };
  }

  const at = (name: string) => join(dir.path, name);

  it("should refuse a server its CA store does not vouch for", async () => {
    const { commit, health } = await poll(undefined);
    assert.equal(health.status, "degraded");
    assert.match(
      health.message,
      /services: GET https:\/\/127\.0\.0\.1:\d+\/services.*: .*(certificate|self.signed)/i,
    );
    assert.equal(commit.changes.length, 0);
  });

  it("should trust a custom CA and present a client certificate", async () => {
    const { commit, health } = await poll({
      ca: at("ca.pem"),
      cert: at("client.pem"),
      key: at("client.key"),
    });
    assert.equal(health.status, "ok", health.message);
    assert.deepStrictEqual(commit.lines(), ["ADDED k:Service.deck.konghq.com shop"]);
  });

  it("should be refused by a server that wants a client certificate when none is set", async () => {
    const { health } = await poll({ ca: at("ca.pem") });
    assert.equal(health.status, "degraded");
    assert.match(health.message, /answered 401: \{"message":"client certificate required"\}/);
  });

  it("should say which TLS file it cannot read", async () => {
    const health: RuntimeHealth[] = [];
    const source = createHttpSource({
      name: "k",
      type: "http",
      preset: "kong",
      url,
      tls: { ca: at("missing.pem") },
    });
    const runtime = new SourceRuntime([source], {
      commit: async () => undefined,
      loadCursors: async () => ({}),
      onHealth: (h) => health.push(h),
      log: pino({ level: "silent" }),
      clock: new FakeClock(),
    });
    runtimes.push(runtime);
    runtime.start();
    await waitFor(() => health.find((h) => h.status === "failed"));
    assert.match(
      health.find((h) => h.status === "failed")!.message,
      /tls\.ca: cannot read .*missing\.pem: ENOENT/,
    );
  });

  it("should skip server checks only when insecureSkipVerify is written out", async () => {
    const { health } = await poll({
      insecureSkipVerify: true,
      cert: at("client.pem"),
      key: at("client.key"),
    });
    assert.equal(health.status, "ok", health.message);
  });
});
