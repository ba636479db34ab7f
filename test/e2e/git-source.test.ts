import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { loadConfig } from "../../src/config/load.js";
import { startCrwatch } from "../../src/main.js";
import { ALICE, BOB, routeYaml, TestRepo } from "../git-repo.js";
import { tempDir } from "../helpers.js";

const quiet = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }));

describe("a git source through startCrwatch", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir("crwatch-git-e2e-");
  });
  after(async () => tmp.cleanup());

  it("should record commits with author and message, resume after a restart, and deliver them", async () => {
    const repo = await TestRepo.init(join(tmp.path, "gateway-config"));
    await repo.write("gateway/routes.yaml", `${routeYaml("shop")}---\n${routeYaml("cart")}`);
    await repo.write("docs/notes.yaml", "not: watched\n");
    const added = await repo.commit("Add shop and cart routes", ALICE);
    await repo.write("gateway/routes.yaml", routeYaml("shop", 40));
    const shifted = await repo.commit("Drop cart, shift shop", BOB);

    const configPath = join(tmp.path, "crwatch.yaml");
    const out = join(tmp.path, "changes.jsonl");
    await writeFile(
      configPath,
      [
        "store: { path: ./data }",
        "sources:",
        "  - name: repo",
        "    type: git",
        "    url: ./gateway-config # a local path, relative to this file",
        "    branch: main",
        '    paths: ["gateway/**/*.yaml"]',
        "    interval: 1h",
        "    history: full",
        '    webhook: { listen: "127.0.0.1:0", secret: "${GIT_WEBHOOK_SECRET}" }',
        "sinks:",
        "  - { name: audit, type: jsonl, path: ./changes.jsonl }",
        "",
      ].join("\n"),
    );
    const load = () =>
      loadConfig({ configPath, env: { GIT_WEBHOOK_SECRET: "a-long-webhook-secret" } });

    const first = await startCrwatch(await load(), { log: quiet });
    await first.ready();
    await first.stop();

    await repo.write("gateway/routes.yaml", routeYaml("shop", 60));
    const third = await repo.commit("Shift shop again", ALICE);
    const second = await startCrwatch(await load(), { log: quiet });
    await second.ready();
    const all = await second.store.readChanges({});
    await second.stop();
    // The restart records the time crwatch was down, then the commit made meanwhile.
    assert.equal(all.filter((c) => c.notice?.code === "CRW_NOT_RUNNING").length, 1);
    const changes = all.filter((c) => c.type !== "GAP");

    assert.deepStrictEqual(
      changes.map((c) => [c.type, c.ref.name, c.cause?.id]),
      [
        ["ADDED", "shop", added],
        ["ADDED", "cart", added],
        ["MODIFIED", "shop", shifted],
        ["DELETED", "cart", shifted],
        ["MODIFIED", "shop", third],
      ],
    );
    const deleted = changes[3]!;
    assert.deepStrictEqual(deleted.actor, { ...BOB, via: "git" });
    assert.equal(deleted.cause?.message, "Drop cart, shift shop");
    assert.deepStrictEqual(changes[4]!.location, {
      path: `gateway/routes.yaml@${third}`,
      line: 1,
      document: 0,
    });
    const delivered = (await readFile(out, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((c) => c.type !== "GAP");
    assert.equal(delivered.length, 5);
    assert.equal(delivered[4].cause.id, third);
  });
});

describe("git source config", () => {
  it("should refuse a bad entry with the field named", async () => {
    const dir = await tempDir();
    try {
      const cases: Array<[string, RegExp]> = [
        ["interval: 30 seconds", /interval/],
        ["history: some", /history/],
        ["branch: --upload-pack=evil", /branch/],
        ["webhook: { listen: 7072, secret: long-enough-secret }", /listen/],
      ];
      for (const [line, field] of cases) {
        const configPath = join(dir.path, "c.yaml");
        await writeFile(
          configPath,
          `sources:\n  - name: repo\n    type: git\n    url: ./repo\n    ${line}\n`,
        );
        await assert.rejects(loadConfig({ configPath, env: {} }), (err: unknown) => {
          assert.equal((err as { code?: string }).code, "CRW_CONFIG_INVALID");
          assert.match(String(err), field);
          return true;
        });
      }
      const configPath = join(dir.path, "ok.yaml");
      await writeFile(configPath, "sources:\n  - { name: repo, type: git, url: ./repo }\n");
      const config = await loadConfig({ configPath, env: {} });
      assert.equal((config.sources[0] as { url: string }).url, `file://${dir.path}/repo`);
    } finally {
      await dir.cleanup();
    }
  });
});
