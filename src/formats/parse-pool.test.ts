import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { repoRoot, sharedDir } from "../../test/helpers.js";
import {
  type ParsedFile,
  type ParseFileRequest,
  parseFile,
  type TimedParse,
} from "./parse-file.js";
import { ParsePool } from "./parse-pool.js";
import { carriesAsJson } from "./parse-worker.js";

const ALWAYS = { yaml: 0, json: 0 };

function request(path: string, bytes: Buffer): ParseFileRequest {
  return { bytes, source: "s", location: path, relPath: path, maxBytes: 64 * 1024 * 1024 };
}

/** YAML whose parse needs far more heap than its size: `keys` entries in one mapping. */
function manyKeys(keys: number): Buffer {
  const lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: big}", "data:"];
  for (let i = 0; i < keys; i++) lines.push(`  key-${i}: value number ${i}`);
  return Buffer.from(`${lines.join("\n")}\n`);
}

async function fixtureFiles(): Promise<{ path: string; bytes: Buffer }[]> {
  const root = join(sharedDir, "fixtures");
  const names = (await readdir(root, { recursive: true })).filter((n) => /\.(ya?ml|json)$/.test(n));
  return Promise.all(
    names.sort().map(async (name) => ({ path: name, bytes: await readFile(join(root, name)) })),
  );
}

/**
 * A parse as data, without its timing; an item a worker sent as JSON text (parse-wire.ts)
 * is read as the object it holds, and its text must be that object's JSON.
 */
function withoutTime(result: TimedParse): ParsedFile {
  const { parseMs: _, ...rest } = result;
  if (rest.status !== "read") return rest;
  const items = rest.items.map(({ json, ...item }) => {
    if (json !== undefined) assert.equal(json, JSON.stringify(item.object));
    return item;
  });
  return { ...rest, items };
}

describe("ParsePool", () => {
  const pools: ParsePool[] = [];
  const pool = (options: ConstructorParameters<typeof ParsePool>[0]) => {
    const p = new ParsePool(options);
    pools.push(p);
    return p;
  };
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it("should give what parsing on the calling thread gives, file by file, in order", async () => {
    const files = await fixtureFiles();
    assert.ok(files.length > 10, "the shared fixtures are there");
    const p = pool({ size: 2, inlineBelowBytes: ALWAYS });
    const results = await Promise.all(files.map((f) => p.parse(request(f.path, f.bytes))));
    for (const [i, f] of files.entries()) {
      const inline = parseFile(request(f.path, f.bytes));
      assert.deepEqual(withoutTime(results[i]!), withoutTime(inline), f.path);
    }
    assert.equal(p.stats().workers, 2);
  });

  it("should report a file that exhausts a worker's heap as CRW_PARSE_FAILED and go on with a new worker", async () => {
    const p = pool({ size: 1, inlineBelowBytes: ALWAYS, maxWorkerHeapMb: 32 });
    const small = request("ok.yaml", Buffer.from("apiVersion: v1\nkind: A\nmetadata: {name: a}\n"));
    const [before, hostile, next] = await Promise.all([
      p.parse(small),
      p.parse(request("hostile.yaml", manyKeys(300_000))),
      p.parse(small),
    ]);
    assert.equal(before.status, "read");
    assert.equal(hostile.status, "unreadable");
    assert.equal(hostile.problems[0]?.code, "CRW_PARSE_FAILED");
    assert.deepEqual(hostile.problems[0]?.location, { path: "hostile.yaml" });
    assert.match(hostile.problems[0]?.message ?? "", /ran out of memory/);
    assert.equal(next.status, "read");
    assert.equal(p.stats().crashes, 1);
  });

  it("should give back values JSON cannot carry exactly as parsed (-0, by structured clone)", async () => {
    const p = pool({ size: 1, inlineBelowBytes: ALWAYS });
    const text = "apiVersion: v1\nkind: A\nmetadata:\n  name: a\nzero: -0\nplain: 0\n";
    const result = await p.parse(request("z.yaml", Buffer.from(text)));
    assert.equal(result.status, "read");
    const object = result.status === "read" ? result.items[0]?.object : undefined;
    assert.ok(Object.is(object?.zero, -0), "-0 stays -0");
    assert.ok(Object.is(object?.plain, 0));
    assert.deepEqual(
      withoutTime(result),
      withoutTime(parseFile(request("z.yaml", Buffer.from(text)))),
    );
  });

  it("should find the one file that crashes a worker it shared with others", async () => {
    // Every file counts as small here, so all four go to the one worker in one message.
    const p = pool({
      size: 1,
      inlineBelowBytes: ALWAYS,
      maxWorkerHeapMb: 32,
      pipeline: { depth: 16, bytes: 1 << 30 },
    });
    const small = request("ok.yaml", Buffer.from("apiVersion: v1\nkind: A\nmetadata: {name: a}\n"));
    const results = await Promise.all([
      p.parse(small),
      p.parse(request("hostile.yaml", manyKeys(300_000))),
      p.parse(small),
      p.parse(small),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["read", "unreadable", "read", "read"],
    );
    assert.equal(results[1]?.problems[0]?.code, "CRW_PARSE_FAILED");
    assert.match(results[1]?.problems[0]?.message ?? "", /ran out of memory/);
    // Once with the others, once alone.
    assert.equal(p.stats().crashes, 2);
  });

  it("should abort one parse of a shared worker and still answer the others", async () => {
    const p = pool({ size: 1, inlineBelowBytes: ALWAYS, pipeline: { depth: 16, bytes: 1 << 30 } });
    const stop = new AbortController();
    const big = p.parse(request("big.yaml", manyKeys(200_000)), stop.signal);
    const other = p.parse(request("other.yaml", manyKeys(10)));
    // Both are on the worker once the pool has dispatched them.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(p.stats().queued, 0);
    stop.abort();
    await assert.rejects(big, { name: "AbortError" });
    assert.equal((await other).status, "read");
    assert.equal(p.stats().crashes, 0);
  });

  it("should stop a running parse when its signal aborts, and keep serving others", async () => {
    const p = pool({ size: 1, inlineBelowBytes: ALWAYS });
    const stop = new AbortController();
    const big = p.parse(request("big.yaml", manyKeys(200_000)), stop.signal);
    const queued = p.parse(request("q.yaml", manyKeys(10)), stop.signal);
    stop.abort();
    await assert.rejects(big, { name: "AbortError" });
    await assert.rejects(queued, { name: "AbortError" });
    const after = await p.parse(request("a.yaml", manyKeys(10)));
    assert.equal(after.status, "read");
    assert.equal(p.stats().crashes, 0);
  });

  it("should parse small files on the calling thread without starting a worker", async () => {
    const p = pool({ size: 1, inlineBelowBytes: { yaml: 1024, json: 1024 } });
    const result = await p.parse(request("tiny.json", Buffer.from('{"a": 1}')));
    assert.equal(result.status, "read");
    assert.equal(p.stats().workers, 0);
  });

  it("should not keep a process alive once its parses are done", async () => {
    const module = pathToFileURL(join(repoRoot, "dist", "src", "formats", "parse-pool.js")).href;
    const script = `
      const { sharedParsePool } = await import(${JSON.stringify(module)});
      const r = await sharedParsePool().parse({ bytes: Buffer.from(Array.from({ length: 300 }, (_, i) => "k" + i + ": 1\\n").join("")),
        source: "s", location: "f.yaml", relPath: "f.yaml", maxBytes: 1e6 });
      console.log(r.status, sharedParsePool().stats().workers);`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--input-type=module", "-e", script], (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    // The child ended by itself (execFile resolved) after a worker did the parse.
    assert.equal(out.trim(), "read 1");
  });

  it("should start its workers on warm(), use them for the parses that follow, and keep no process alive", async () => {
    const module = pathToFileURL(join(repoRoot, "dist", "src", "formats", "parse-pool.js")).href;
    const script = `
      const { ParsePool } = await import(${JSON.stringify(module)});
      const pool = new ParsePool({ size: 2, inlineBelowBytes: { yaml: 0, json: 0 } });
      pool.warm();
      const warmed = pool.stats().workers;
      pool.warm();
      const r = await Promise.all(["a", "b", "c"].map((k) => pool.parse({ bytes: Buffer.from(k + ": 1\\n"),
        source: "s", location: k + ".yaml", relPath: k + ".yaml", maxBytes: 1e6 })));
      console.log(warmed, r.map((x) => x.status).join(","), pool.stats().workers);`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--input-type=module", "-e", script], (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    // The child ended by itself with two idle workers started before any parse.
    assert.equal(out.trim(), "2 read,read,read 2");
  });

  it("should start nothing on warm() once closed", async () => {
    const p = pool({ size: 2 });
    await p.close();
    p.warm();
    assert.equal(p.stats().workers, 0);
  });

  it("should start workers in a process run with V8 flags a worker refuses", async () => {
    const module = pathToFileURL(join(repoRoot, "dist", "src", "formats", "parse-pool.js")).href;
    const script = `
      const { ParsePool } = await import(${JSON.stringify(module)});
      const pool = new ParsePool({ size: 1, inlineBelowBytes: { yaml: 0, json: 0 } });
      const r = await pool.parse({ bytes: Buffer.from("a: 1\\n"), source: "s", location: "f.yaml",
        relPath: "f.yaml", maxBytes: 1e6 });
      console.log(r.status, pool.stats().workers);
      await pool.close();`;
    const flags = ["--max-old-space-size=512", "--max-semi-space-size=16", "--expose-gc"];
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [...flags, "--input-type=module", "-e", script], (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    assert.equal(out.trim(), "read 1");
  });
});

describe("carriesAsJson", () => {
  it("should accept plain JSON data and refuse what JSON would change", () => {
    const proto = JSON.parse('{"__proto__": {"x": 1}}');
    for (const ok of [{ a: [1, "s", true, null, { b: 2.5 }] }, [], "x", proto]) {
      assert.equal(carriesAsJson(ok), true, JSON.stringify(ok));
    }
    for (const bad of [-0, Number.NaN, Infinity, undefined, { a: undefined }, [new Date(0)]]) {
      assert.equal(carriesAsJson(bad), false, String(bad));
    }
    assert.equal(carriesAsJson({ s: new String("x") }), false);
  });
});
