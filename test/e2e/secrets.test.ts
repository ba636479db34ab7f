import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../helpers.js";
import { leakForms, SECRET_CORPUS, withSecretsChanged } from "../secret-corpus.js";
import { cli } from "./process.js";

/** Every secret of the corpus, before and after the change, in every form it could leak. */
const allSecrets = SECRET_CORPUS.flatMap((c) => [...c.secrets, ...withSecretsChanged(c).secrets]);

function assertNoLeak(output: string, what: string): void {
  for (const secret of allSecrets) {
    for (const form of leakForms(secret)) {
      assert.ok(!output.includes(form), `${what}: secret ${secret} leaked as ${form}`);
    }
  }
}

describe("crwatch diff on the secret corpus", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let empty: string;
  let beforeDir: string;
  let afterDir: string;

  before(async () => {
    tmp = await tempDir("crwatch-secrets-");
    empty = join(tmp.path, "empty");
    beforeDir = join(tmp.path, "before");
    afterDir = join(tmp.path, "after");
    await mkdir(empty);
    for (const c of SECRET_CORPUS) {
      for (const [dir, text] of [
        [beforeDir, c.yaml],
        [afterDir, withSecretsChanged(c).yaml],
      ] as const) {
        const path = join(dir, c.file);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, text);
      }
    }
  });
  after(async () => tmp.cleanup());

  function diff(from: string, to: string, output: "text" | "json"): string {
    const r = cli(["diff", from, to, "--output", output]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.length > 0, "diff printed nothing");
    assertNoLeak(r.stderr, `diff ${output} stderr`);
    return r.stdout;
  }

  it("should add every corpus file without printing a secret, as JSON", () => {
    const out = diff(empty, beforeDir, "json");
    assertNoLeak(out, "ADDED json");
    const changes = out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string });
    assert.ok(changes.every((c) => c.type === "ADDED"));
    assert.match(out, /<masked:[0-9a-f]{16}>/);
    for (const c of SECRET_CORPUS) {
      // Readable parts are searched in the JSON of each change, as the unit test does.
      for (const text of c.readable) assert.ok(out.includes(text), `${c.name}: ${text}`);
    }
  });

  it("should add every corpus file without printing a secret, as text", () => {
    const out = diff(empty, beforeDir, "text");
    assertNoLeak(out, "ADDED text");
    assert.match(out, /<masked:[0-9a-f]{16}>/);
  });

  it("should show each changed secret as a change without printing either value", () => {
    const out = diff(beforeDir, afterDir, "json");
    assertNoLeak(out, "MODIFIED json");
    const changes = out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; location?: string });
    assert.ok(
      changes.every((c) => c.type === "MODIFIED"),
      "only modifications",
    );
    for (const c of SECRET_CORPUS.filter((c) => c.secrets.length > 0)) {
      assert.ok(
        changes.some((change) => JSON.stringify(change).includes(c.file)),
        `${c.name}: a changed secret is not shown as a change`,
      );
    }
    assert.ok(!out.includes("security-policy.yaml"), "a file without secrets did not change");
  });

  it("should show each changed secret as a change without printing either value, as text", () => {
    const out = diff(beforeDir, afterDir, "text");
    assertNoLeak(out, "MODIFIED text");
    assert.match(out, /<masked:[0-9a-f]{16}>" → "<masked:[0-9a-f]{16}>/);
  });
});
