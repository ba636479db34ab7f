import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_HEAP_MIB, DEFAULT_SEMI_SPACE_MIB, heapFlags, withNodeOptions } from "./heap.js";

const defaults = [
  `--max-old-space-size=${DEFAULT_HEAP_MIB}`,
  `--max-semi-space-size=${DEFAULT_SEMI_SPACE_MIB}`,
];

describe("serve's heap limits", () => {
  it("should add the default old-space and semi-space limits when none is set", () => {
    assert.deepEqual(heapFlags({}, []), defaults);
  });

  it("should take the old-space limit from CRWATCH_HEAP_MIB", () => {
    assert.deepEqual(heapFlags({ CRWATCH_HEAP_MIB: "300" }, []), [
      "--max-old-space-size=300",
      `--max-semi-space-size=${DEFAULT_SEMI_SPACE_MIB}`,
    ]);
  });

  it("should add nothing when CRWATCH_HEAP_MIB is off", () => {
    assert.deepEqual(heapFlags({ CRWATCH_HEAP_MIB: "off" }, []), []);
  });

  it("should refuse a CRWATCH_HEAP_MIB that is not a size crwatch can run in", () => {
    for (const bad of ["12", "1.5", "lots", "-1"]) {
      assert.throws(
        () => heapFlags({ CRWATCH_HEAP_MIB: bad }, []),
        (err: { code?: string }) => err.code === "CRW_USAGE",
        bad,
      );
    }
  });

  it("should leave a limit the user set in NODE_OPTIONS or on node's command line alone", () => {
    assert.deepEqual(heapFlags({ NODE_OPTIONS: "--max-old-space-size=900" }, []), [
      `--max-semi-space-size=${DEFAULT_SEMI_SPACE_MIB}`,
    ]);
    assert.deepEqual(heapFlags({ CRWATCH_HEAP_MIB: "300" }, ["--max_old_space_size", "900"]), [
      `--max-semi-space-size=${DEFAULT_SEMI_SPACE_MIB}`,
    ]);
    assert.deepEqual(heapFlags({}, ["--max-semi-space-size=8"]), [defaults[0]]);
    assert.deepEqual(
      heapFlags({ NODE_OPTIONS: "--max-old-space-size=900 --max-semi-space-size=8" }, []),
      [],
    );
  });

  it("should append to NODE_OPTIONS, keeping what was there", () => {
    assert.equal(
      withNodeOptions({ NODE_OPTIONS: " --enable-source-maps " }, defaults).NODE_OPTIONS,
      `--enable-source-maps ${defaults.join(" ")}`,
    );
    assert.equal(withNodeOptions({}, defaults).NODE_OPTIONS, defaults.join(" "));
  });
});
