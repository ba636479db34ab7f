import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BlindRecheck, blindPlaces, keepBlindRecords } from "./blind.js";
import type { ScanResult } from "./scan.js";
import type { FileRecord } from "./state.js";

function record(absPath: string): FileRecord {
  return {
    absPath,
    relPath: absPath.slice(1),
    signature: { dev: 1, ino: absPath.length, size: 1, mtimeMs: 1, ctimeMs: 1 },
    items: [],
    problems: [],
    readable: true,
    known: true,
  };
}

const recordsOf = (...paths: string[]) => new Map(paths.map((p) => [p, record(p)]));

describe("blind places of a files source", () => {
  it("should count an unlisted directory as blind, and a missing root as not", () => {
    const found: ScanResult = {
      files: [],
      problems: [],
      unlisted: ["/w/gone", "/w/locked"],
      missingRoots: ["/w/gone"],
    };
    assert.deepEqual(blindPlaces(found), ["/w/locked"]);
  });

  it("should keep the last records under a blind directory, in path order, and no others", () => {
    const previous = recordsOf("/w/a.yaml", "/w/locked/b.yaml", "/w/locked/c/d.yaml", "/w/z.yaml");
    const found = recordsOf("/w/a.yaml", "/w/new.yaml");
    const kept = keepBlindRecords(found, previous, ["/w/locked"]);
    assert.deepEqual(
      [...kept.keys()],
      ["/w/a.yaml", "/w/locked/b.yaml", "/w/locked/c/d.yaml", "/w/new.yaml"],
      "z.yaml was not under the blind directory: it is gone",
    );
  });

  it("should not take a sibling whose name only starts like the blind directory", () => {
    const previous = recordsOf("/w/locked-not/x.yaml");
    assert.deepEqual([...keepBlindRecords(new Map(), previous, ["/w/locked"]).keys()], []);
  });

  it("should wait longer each time the same places stay blind, up to the ceiling", () => {
    const recheck = new BlindRecheck(100, 350);
    assert.deepEqual(recheck.update(["/w/locked"]), []);
    const waits = [1, 2, 3, 4].map(() => {
      recheck.update(["/w/locked"]);
      return recheck.nextDelay();
    });
    assert.deepEqual(waits, [100, 200, 350, 350]);
  });

  it("should start over when the blind set changes, name what recovered, and stop when none is blind", () => {
    const recheck = new BlindRecheck(100, 1000);
    recheck.update(["/w/a", "/w/b"]);
    recheck.nextDelay();
    recheck.nextDelay();
    assert.deepEqual(recheck.update(["/w/b"]), ["/w/a"]);
    assert.equal(recheck.nextDelay(), 100);
    assert.deepEqual(recheck.update([]), ["/w/b"]);
    assert.equal(recheck.nextDelay(), undefined);
  });
});
