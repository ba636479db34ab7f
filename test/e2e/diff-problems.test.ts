import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../helpers.js";
import { cli } from "./process.js";

const configMap = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  k: "${value}"\n`;
const BROKEN = `${configMap("broken", "1")}  bad: [unclosed\n`;
const BROKEN_OTHERWISE = `${configMap("broken", "2")}  bad: [unclosed\n`;
/** Its second document is a list, not a mapping: a problem fingerprinted by its path. */
const NOT_AN_OBJECT = `${configMap("first", "1")}---\n- just\n- a list\n`;

interface Printed {
  type: string;
  ref: { name: string };
  location?: { path: string } | null;
  notice?: { code: string } | null;
}

/** Writes one side: file name → text. */
async function side(dir: string, files: Record<string, string>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

function diff(beforeDir: string, afterDir: string) {
  const r = cli(["diff", beforeDir, afterDir, "--output", "json"]);
  const lines = r.stdout.trim() === "" ? [] : r.stdout.trim().split("\n");
  return { ...r, changes: lines.map((l) => JSON.parse(l) as Printed) };
}

const brief = (c: Printed) => `${c.type} ${c.notice?.code ?? c.ref.name}`;

describe("crwatch diff reports a problem only when it differs between BEFORE and AFTER", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir("crwatch-diff-problems-");
  });
  after(async () => tmp.cleanup());

  it("should not report a file broken identically on both sides, only the real change", async () => {
    const common = { "broken.yaml": BROKEN, "list.yaml": NOT_AN_OBJECT };
    const b = await side(join(tmp.path, "same", "before"), {
      ...common,
      "a.yaml": configMap("a", "1"),
    });
    const a = await side(join(tmp.path, "same", "after"), {
      ...common,
      "a.yaml": configMap("a", "2"),
    });
    const r = diff(b, a);
    assert.deepEqual(r.changes.map(brief), ["MODIFIED a"], r.stderr);
    assert.equal(
      r.status,
      0,
      "nothing in AFTER is unread that BEFORE could read: the diff is whole",
    );
    assert.match(r.stderr, /2 problem\(s\) unchanged since BEFORE/);
  });

  it("should report a problem new in AFTER, at its AFTER path, and exit 2", async () => {
    const b = await side(join(tmp.path, "new", "before"), { "a.yaml": configMap("a", "1") });
    const a = await side(join(tmp.path, "new", "after"), {
      "a.yaml": configMap("a", "1"),
      "broken.yaml": BROKEN,
      "list.yaml": NOT_AN_OBJECT,
    });
    const r = diff(b, a);
    assert.deepEqual(r.changes.map(brief).sort(), [
      "ADDED first",
      "ERROR CRW_NOT_AN_OBJECT",
      "ERROR CRW_YAML_SYNTAX",
    ]);
    for (const error of r.changes.filter((c) => c.type === "ERROR"))
      assert.ok(error.location?.path.startsWith(`${a}/`), `${error.location?.path} is under AFTER`);
    assert.equal(r.status, 2);
  });

  it("should report a problem that changed in AFTER", async () => {
    const b = await side(join(tmp.path, "changed", "before"), { "broken.yaml": BROKEN });
    const a = await side(join(tmp.path, "changed", "after"), { "broken.yaml": BROKEN_OTHERWISE });
    const r = diff(b, a);
    assert.deepEqual(r.changes.map(brief), ["ERROR CRW_YAML_SYNTAX"]);
    assert.equal(r.changes[0]?.location?.path, join(a, "broken.yaml"));
    assert.equal(r.status, 2);
  });

  it("should report a problem fixed in AFTER: what the file now holds, and the fix on stderr", async () => {
    const b = await side(join(tmp.path, "fixed", "before"), { "broken.yaml": BROKEN });
    const a = await side(join(tmp.path, "fixed", "after"), {
      "broken.yaml": configMap("broken", "1"),
    });
    const r = diff(b, a);
    assert.deepEqual(r.changes.map(brief), ["ADDED broken"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /1 problem\(s\) of BEFORE fixed in AFTER: broken\.yaml \(CRW_YAML_SYNTAX\)/,
    );
  });

  it("should locate a deletion in BEFORE and an edit in AFTER", async () => {
    const b = await side(join(tmp.path, "where", "before"), {
      "gone.yaml": configMap("gone", "1"),
      "kept.yaml": configMap("kept", "1"),
    });
    const a = await side(join(tmp.path, "where", "after"), { "kept.yaml": configMap("kept", "2") });
    const r = diff(b, a);
    const where = Object.fromEntries(r.changes.map((c) => [brief(c), c.location?.path]));
    assert.deepEqual(where, {
      "DELETED gone": join(b, "gone.yaml"),
      "MODIFIED kept": join(a, "kept.yaml"),
    });
  });
});
