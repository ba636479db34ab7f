import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Change } from "../../src/model/change.js";
import { tempDir, waitFor } from "../helpers.js";
import { leakForms, SECRET_CORPUS, withSecretsChanged } from "../secret-corpus.js";
import { cli, type Served, serve, stop, waitForChanges, waitUntilWatching } from "./process.js";

/** Every secret of the corpus, before and after the change, in every form it could leak. */
const allSecrets = SECRET_CORPUS.flatMap((c) => [...c.secrets, ...withSecretsChanged(c).secrets]);

function assertNoLeak(output: string, what: string): void {
  assert.ok(output.length > 0, `${what}: printed nothing`);
  for (const secret of allSecrets) {
    for (const form of leakForms(secret)) {
      assert.ok(!output.includes(form), `${what}: secret ${secret} leaked as ${form}`);
    }
  }
}

async function writeCorpus(dir: string, changed: boolean): Promise<void> {
  for (const c of SECRET_CORPUS) {
    const path = join(dir, c.file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, changed ? withSecretsChanged(c).yaml : c.yaml);
  }
}

describe("no secret in any CI output (diff sarif, lint) nor in history, show and the sinks", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let empty: string;
  let beforeDir: string;
  let afterDir: string;

  before(async () => {
    tmp = await tempDir("crwatch-secrets-ci-");
    empty = join(tmp.path, "empty");
    beforeDir = join(tmp.path, "before");
    afterDir = join(tmp.path, "after");
    await mkdir(empty);
    await writeCorpus(beforeDir, false);
    await writeCorpus(afterDir, true);
  });
  after(async () => tmp.cleanup());

  it("should keep secrets out of diff in text (--explain), json and sarif", () => {
    for (const [from, to] of [
      [empty, beforeDir],
      [beforeDir, afterDir],
    ] as const) {
      for (const output of ["text", "json", "sarif"]) {
        const r = cli(["diff", from, to, "--output", output, "--explain"]);
        assert.equal(r.status, 0, r.stderr);
        assertNoLeak(r.stdout, `diff ${output}`);
        assertNoLeak(`${r.stderr}.`, `diff ${output} stderr`);
      }
    }
  });

  it("should keep secrets out of lint in text, json and sarif", () => {
    for (const dir of [beforeDir, afterDir]) {
      for (const output of ["text", "json", "sarif"]) {
        const r = cli(["lint", dir, "--output", output, "--explain", "--fail-on", "none"]);
        assert.equal(r.status, 0, r.stderr);
        assertNoLeak(r.stdout, `lint ${output}`);
        assertNoLeak(`${r.stderr}.`, `lint ${output} stderr`);
      }
    }
  });

  describe("through serve, the console and jsonl sinks, history and show", () => {
    let served: Served;
    let watched: string;
    let data: string;
    let jsonl: string;

    before(async () => {
      watched = join(tmp.path, "watched");
      data = join(tmp.path, "data");
      jsonl = join(tmp.path, "changes.jsonl");
      await writeCorpus(watched, false);
      const config = join(tmp.path, "crwatch.yaml");
      await writeFile(
        config,
        `sources:
  - name: corpus
    type: files
    paths: [${JSON.stringify(watched)}]
    debounceMs: 20
sinks:
  - name: console
    type: console
    color: never
  - name: file
    type: jsonl
    path: ${JSON.stringify(jsonl)}
`,
      );
      served = serve(["--config", config, "--data-dir", data]);
      await waitUntilWatching(served);
      await waitForChanges(data, (c) => c.type === "ADDED", SECRET_CORPUS.length);
      await writeCorpus(watched, true);
      const withSecrets = SECRET_CORPUS.filter((c) => c.secrets.length > 0).length;
      await waitForChanges(data, (c) => c.type === "MODIFIED", withSecrets);
      // The jsonl sink has delivered the last change once the file holds it.
      const all = await waitForChanges(data, () => true, 1);
      const last = all[all.length - 1] as Change;
      await waitForDelivery(jsonl, last.id);
      await stop(served);
    });

    it("should keep secrets out of the console sink and serve's log", () => {
      assert.match(served.stdout(), /MODIFIED/);
      assertNoLeak(served.stdout(), "console sink");
      assertNoLeak(served.stderr(), "serve log");
    });

    it("should keep secrets out of the jsonl sink", async () => {
      const text = await readFile(jsonl, "utf8");
      assert.match(text, /<masked:[0-9a-f]{16}>/);
      assertNoLeak(text, "jsonl sink");
    });

    it("should keep secrets out of history and show, as text and JSON", () => {
      for (const output of ["text", "json"]) {
        const r = cli(["history", "--data-dir", data, "--output", output]);
        assert.equal(r.status, 0, r.stderr);
        assertNoLeak(r.stdout, `history ${output}`);
      }
      const changes = cli(["history", "--data-dir", data, "--output", "json"])
        .stdout.trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Change & { findings: { rule: string; ruleId: string }[] });
      // A rotated secret is a finding; JSON names its rule as `rule` (and `ruleId`, as stored).
      const findings = changes.flatMap((c) => c.findings);
      assert.ok(findings.some((f) => f.rule === "generic/secret-changed"));
      assert.ok(findings.every((f) => f.rule === f.ruleId));
      const seqs = changes.map((c) => c.seq);
      assert.ok(seqs.length >= SECRET_CORPUS.length);
      for (const seq of seqs) {
        for (const output of ["text", "json"]) {
          const r = cli(["show", String(seq), "--data-dir", data, "--output", output]);
          assert.equal(r.status, 0, r.stderr);
          assertNoLeak(r.stdout, `show ${seq} ${output}`);
        }
      }
    });
  });
});

async function waitForDelivery(path: string, id: string): Promise<void> {
  await waitFor(
    async () => (await readFile(path, "utf8").catch(() => "")).includes(id),
    20_000,
    `change ${id} in ${path}`,
  );
}
