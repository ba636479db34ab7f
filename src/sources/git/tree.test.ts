import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { routeYaml } from "../../../test/git-repo.js";
import { sha256Hex, stableStringify } from "../../core/stable-json.js";
import { parseFile } from "../../formats/parse-file.js";
import type { ObservationEvent, ObservedObject } from "../../model/observation.js";
import { refKey } from "../../model/ref.js";
import type { TreeEntry } from "./history.js";
import { RepoPathSelector } from "./paths.js";
import { TreeState } from "./tree.js";

/** mulberry32: a small seeded generator, so every run makes the same history. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The log's picture after the events: resources with their location, and open problems. */
class Replay {
  readonly objects = new Map<string, string>();
  readonly problems = new Set<string>();

  apply(events: ObservationEvent[]): void {
    for (const e of events) {
      if (e.type === "upsert") this.objects.set(refKey(e.item.ref), summary(e.item));
      else if (e.type === "delete") this.objects.delete(refKey(e.ref));
      else if (e.type === "snapshot") {
        this.objects.clear();
        for (const item of e.items) this.objects.set(refKey(item.ref), summary(item));
      } else if (e.type === "problem") {
        this.problems.add(`${e.problem.code} ${e.problem.location.path}`);
      } else if (e.type === "recovered") {
        for (const p of this.problems) if (p.endsWith(` ${e.location}`)) this.problems.delete(p);
      }
    }
  }
}

/** What the log would show of an item: where it was read and what it holds. */
function summary(item: ObservedObject): string {
  return `${item.location?.path} ${stableStringify(item.object)}`;
}

describe("git tree state", () => {
  it("should give the same picture with the incremental view as with a full rebuild", async () => {
    const random = seeded(20260101);
    const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]!;
    const blobs = new Map<string, Buffer>();
    const reader = { read: async (sha: string) => blobs.get(sha) };
    const options = {
      source: "s",
      selector: new RepoPathSelector({ paths: ["."], include: ["**/*.yaml"], exclude: [] }),
      maxFileBytes: 1 << 20,
    };
    const quick = new TreeState(options);
    const full = new TreeState({ ...options, alwaysRebuild: true });
    const [a, b] = [new Replay(), new Replay()];
    const paths = Array.from({ length: 12 }, (_, i) => `d${i % 3}/p${i}.yaml`);
    const names = Array.from({ length: 60 }, (_, i) => `n${i}`);
    const present = new Set<string>();
    let problemsSeen = 0;
    /** Steps that start with no problem: the incremental view may answer them. */
    let cleanSteps = 0;
    for (let step = 0; step < 400; step++) {
      const entries: TreeEntry[] = [];
      const touched = new Set(
        Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(paths)),
      );
      for (const path of [...touched].sort()) {
        const roll = random();
        if (roll < 0.2 && present.has(path)) {
          present.delete(path);
          entries.push({ status: "D", path, mode: "100644" });
          continue;
        }
        const text =
          roll < 0.21
            ? "kind: [broken\n"
            : routeYaml(pick(names), Math.floor(random() * 5)) +
              (random() < 0.3 ? `---\n${routeYaml(pick(names), 1)}` : "");
        const blob = sha256Hex(text).slice(0, 40);
        blobs.set(blob, Buffer.from(text));
        entries.push({ status: present.has(path) ? "M" : "A", path, blob, mode: "100644" });
        present.add(path);
      }
      const sha = `c${step}`;
      if (a.problems.size === 0) cleanSteps++;
      a.apply(await quick.apply(sha, entries, reader));
      b.apply(await full.apply(sha, entries, reader));
      assert.deepStrictEqual(a.objects, b.objects, `resources differ after step ${step}`);
      assert.deepStrictEqual(a.problems, b.problems, `problems differ after step ${step}`);
      problemsSeen += a.problems.size;
    }
    assert.ok(problemsSeen > 0, "the history holds broken files and duplicates");
    assert.ok(cleanSteps > 50, `only ${cleanSteps} steps took the incremental way`);
    assert.ok(a.objects.size > 0);
  });
});

describe("git tree state's parses by blob", () => {
  it("should parse a blob seen again at the same path once, located at the new commit", async () => {
    const texts: Record<string, string> = { x: routeYaml("r", 10), y: routeYaml("r", 20) };
    const reader = { read: async (sha: string) => Buffer.from(texts[sha]!) };
    const parsed: string[] = [];
    const tree = new TreeState({
      source: "s",
      selector: new RepoPathSelector({ paths: ["."], include: ["**/*.yaml"], exclude: [] }),
      maxFileBytes: 1 << 20,
      parse: async (request) => {
        parsed.push(request.location);
        return parseFile(request);
      },
    });
    const at = (status: string, blob: string): TreeEntry[] => [
      { status, path: "p.yaml", blob, mode: "100644" },
    ];
    const upsertOf = (events: ObservationEvent[]) => {
      const upsert = events.find((e) => e.type === "upsert");
      assert.ok(upsert?.type === "upsert", "an upsert");
      return upsert.item;
    };
    const first = upsertOf(await tree.apply("c1", at("A", "x"), reader));
    await tree.apply("c2", at("M", "y"), reader);
    const reverted = upsertOf(await tree.apply("c3", at("M", "x"), reader));
    assert.deepEqual(parsed, ["p.yaml@c1", "p.yaml@c2"], "the reverted blob is not parsed again");
    assert.deepEqual(reverted.location, { ...first.location, path: "p.yaml@c3" });
    assert.deepEqual(reverted.object, first.object);
  });
});
