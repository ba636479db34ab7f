import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { describe, it } from "node:test";
import { tempDir } from "../../test/helpers.js";
import { createConsoleSink } from "./console/sink.js";
import { sampleChange, sinkContract } from "./contract.js";
import { createJsonlSink } from "./jsonl/sink.js";

const failingStream = () =>
  new Writable({
    write(_chunk, _encoding, done) {
      done(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    },
  });

sinkContract("console", async () => {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => {
    text += d.toString();
  });
  return {
    sink: createConsoleSink({ name: "c", type: "console", color: "never" }, out),
    broken: createConsoleSink({ name: "c", type: "console" }, failingStream()),
    delivered: async () => [...text.matchAll(/^#(\d+) MODIFIED/gm)].map((m) => Number(m[1])),
    cleanup: async () => {},
  };
});

sinkContract("jsonl to a file", async () => {
  const dir = await tempDir();
  const path = join(dir.path, "changes.jsonl");
  return {
    sink: createJsonlSink({ name: "j", type: "jsonl", path }),
    broken: createJsonlSink({
      name: "j",
      type: "jsonl",
      path: join(dir.path, "missing-dir", "x.jsonl"),
    }),
    delivered: async () =>
      (await readFile(path, "utf8"))
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { seq: number }).seq),
    receivedIds: async () =>
      (await readFile(path, "utf8"))
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { id: string }).id),
    cleanup: dir.cleanup,
  };
});

sinkContract("jsonl to stdout", async () => {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => {
    text += d.toString();
  });
  return {
    sink: createJsonlSink({ name: "j", type: "jsonl" }, out),
    broken: createJsonlSink({ name: "j", type: "jsonl", path: "-" }, failingStream()),
    delivered: async () =>
      text
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { seq: number }).seq),
    receivedIds: async () =>
      text
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { id: string }).id),
    cleanup: async () => {},
  };
});

describe("jsonl sink on a FIFO", () => {
  it("should write each change once and report it delivered (no fsync on a pipe)", async () => {
    const dir = await tempDir();
    const fifo = join(dir.path, "changes.fifo");
    execFileSync("mkfifo", [fifo]);
    // A reader on the other end, as `tail -f`-like consumers would be.
    const reader = spawn("cat", [fifo], { stdio: ["ignore", "pipe", "inherit"] });
    let got = "";
    reader.stdout.on("data", (d: Buffer) => {
      got += d.toString();
    });
    const sink = createJsonlSink({ name: "j", type: "jsonl", path: fifo });
    const outcomes = await sink.deliver(
      [sampleChange(1), sampleChange(2)],
      new AbortController().signal,
    );
    await sink.close();
    await new Promise((resolve) => reader.on("close", resolve));
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ["delivered", "delivered"],
    );
    assert.deepEqual(
      got
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).seq),
      [1, 2],
    );
    await dir.cleanup();
  });
});
