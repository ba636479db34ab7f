import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { type Browser, chromium as playwright } from "playwright-core";
import { repoRoot } from "../../test/helpers.js";
import { resourceChange, routeRef } from "../store/contract.js";
import { type ApiServer, startApiServer } from "./server.js";
import { type Fixture, fixture, sampleChanges, TOKENS, testConfig } from "./test-kit.js";

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

describe("web UI driven by Playwright", {
  skip: CHROMIUM ? false : "chromium is not installed (apt-get install -y chromium)",
}, () => {
  let fx: Fixture;
  let server: ApiServer;
  let browser: Browser;
  before(async () => {
    fx = await fixture();
    server = await startApiServer(fx.deps);
    await fx.commit(sampleChanges());
    browser = await playwright.launch({
      executablePath: CHROMIUM as string,
      args: ["--no-sandbox"],
    });
  });
  after(async () => {
    await browser?.close();
    await server.stop();
    await fx.cleanup();
  });

  it("should log in with a token, show a change made during the test live, and open its diff", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(`${server.url}/`);
    await page.locator("#token").fill("wrong-token-0123456789");
    await page.locator("#login button").click();
    await page.locator("#login-error", { hasText: "not accepted" }).waitFor();

    await page.locator("#token").fill(TOKENS.viewer);
    await page.locator("#login button").click();
    await page.locator("#status", { hasText: "following live changes" }).waitFor();
    assert.deepEqual(
      await page
        .locator("#timeline li")
        .evaluateAll((lis) => lis.map((li) => li.getAttribute("data-seq"))),
      ["3", "2", "1"],
    );

    // A change committed now reaches the open page through the watch stream.
    await fx.commit([
      resourceChange("MODIFIED", routeRef("storefront"), 3, {
        findings: [
          {
            ruleId: "route.open",
            severity: "critical",
            message: "opened to all",
            path: "/spec/hostnames",
          },
        ],
      }),
    ]);
    const live = page.locator('#timeline li[data-seq="4"]');
    await live.waitFor();
    assert.equal(await page.locator("#timeline li").first().getAttribute("data-seq"), "4");

    await live.locator("button").click();
    await page.locator("#detail-head", { hasText: "#4 MODIFIED" }).waitFor();
    const diff = await page.locator("#detail-diff li").allTextContents();
    assert.deepEqual(diff, ["~ modified storefront"]);
    assert.equal(
      await page.locator("#detail-diff li.finding").count(),
      1,
      "the line under the finding's path is highlighted",
    );
    assert.match(
      (await page.locator("#detail-findings").textContent()) ?? "",
      /\[critical\] route\.open: opened to all/,
    );
    assert.match((await page.locator("#detail-after").textContent()) ?? "", /r3\.example\.com/);

    await page.locator("#resources button", { hasText: "shop/storefront" }).click();
    await page.locator("#compare-from").selectOption("1");
    await page.locator("#compare-to").selectOption("3");
    await page.locator("#compare button").click();
    await page.locator("#revision-diff li").first().waitFor();
    assert.deepEqual(await page.locator("#revision-diff li").allTextContents(), [
      '~ spec.hostnames[0]: "r1.example.com" → "r3.example.com"',
    ]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "ui-live-diff.png"), fullPage: true });
    await page.close();
  });
});
