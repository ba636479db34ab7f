import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { tempDir } from "../../test/helpers.js";
import { createConsoleSink } from "./console/sink.js";
import { sinkContract } from "./contract.js";
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
    cleanup: async () => {},
  };
});
