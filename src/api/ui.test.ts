import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { repoRoot } from "../../test/helpers.js";
import { type ApiServer, startApiServer } from "./server.js";
import { type Fixture, fixture, sampleChanges, testConfig } from "./test-kit.js";

const run = promisify(execFile);
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const ARTIFACTS = join(repoRoot, "dist", "artifacts");

/** Headless Chromium loads the page, runs its script for a while, then dumps or shoots it. */
async function chromium(args: string[], url: string): Promise<string> {
  const { stdout } = await run(
    CHROMIUM as string,
    ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", ...args, url],
    { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

describe("web UI in headless Chromium", {
  skip: CHROMIUM ? false : "chromium is not installed (apt-get install -y chromium)",
}, () => {
  let fx: Fixture;
  let server: ApiServer;
  before(async () => {
    fx = await fixture(testConfig({ auth: "none", tokens: [] }));
    server = await startApiServer(fx.deps);
    await fx.commit(sampleChanges());
    await fx.store.setSourceHealth({
      source: "local",
      status: "ok",
      message: "",
      updatedAt: "2026-01-01T00:00:00.000Z",
    });
  });
  after(async () => {
    await server.stop();
    await fx.cleanup();
  });

  it("should show the recorded changes newest first, and the source health", async () => {
    const dom = await chromium(["--dump-dom"], `${server.url}/`);
    const seqs = [...dom.matchAll(/<li data-seq="(\d+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(seqs, [3, 2, 1]);
    assert.match(dom, /#2 MODIFIED/);
    assert.match(dom, /local:HTTPRoute\.gateway\.networking\.k8s\.io shop\/storefront/);
    assert.match(dom, /source local: <span class="ok">ok<\/span>/);
    assert.match(dom, /following live changes/);
  });

  it("should render a screenshot of the page, kept under dist/artifacts", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, "ui-timeline.png");
    await chromium(
      [`--screenshot=${file}`, "--window-size=1280,900", "--hide-scrollbars"],
      `${server.url}/`,
    );
    assert.ok(existsSync(file), "screenshot written");
  });
});
