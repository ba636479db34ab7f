import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { sharedDir } from "../../../test/helpers.js";
import { CrwatchError } from "../../model/errors.js";
import { keyOf, signatureHeader, standardWebhookHeaders } from "./signature.js";

/** The Standard Webhooks vectors, read at run time from the shared notes (never copied). */
let doc = "";

function field(block: string, name: string): string {
  const m = new RegExp(`^${name}\\s*=\\s*(.*)$`, "m").exec(block);
  assert.ok(m, `${name} in vector block`);
  return m[1]!.trim();
}

/** The code block under a heading, e.g. `### A1.`. */
function blockAfter(heading: string): string {
  const at = doc.indexOf(heading);
  assert.ok(at >= 0, `heading ${heading}`);
  const m = /```\n([\s\S]*?)```/.exec(doc.slice(at));
  return m![1]!;
}

const unquote = (s: string) => s.replace(/^"|"$/g, "");

describe("Standard Webhooks signing (shared vectors)", () => {
  before(async () => {
    doc = await readFile(join(sharedDir, "vectors", "standard-webhooks.md"), "utf8");
  });

  it("should reproduce vector A1 byte for byte", () => {
    const b = blockAfter("### A1.");
    const payload = /^payload\s*=\s*'(.*?)'/m.exec(b)![1]!;
    const header = signatureHeader(
      [keyOf(unquote(field(b, "key")))],
      unquote(field(b, "msgId")),
      Number(field(b, "timestamp")),
      payload,
    );
    assert.equal(header, unquote(field(b, "expected")));
  });

  it("should reproduce vector A2 byte for byte", () => {
    const b = blockAfter("### A2.");
    const payload = /^payload\s*=\s*br#"(.*?)"#/m.exec(b)![1]!;
    const header = signatureHeader(
      [keyOf(unquote(field(b, "secret")))],
      unquote(field(b, "msg_id")),
      Number(field(b, "timestamp")),
      payload,
    );
    assert.equal(header, unquote(field(b, "expected")));
  });

  it("should reproduce the derived vectors of A4 (timestamps, minified, empty, UTF-8)", () => {
    const section = doc.slice(doc.indexOf("### A4."));
    const rows = [...section.matchAll(/^\| (\d{10})[^|]*\| `(.*?)`[^|]*\| `(v1,[^`]+)` \|$/gm)];
    assert.equal(rows.length, 4, "four derived rows");
    const key = keyOf("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    for (const [, ts, payload, expected] of rows) {
      assert.equal(
        signatureHeader([key], "msg_p5jXN8AQM9LWM0D4loKWxJek", Number(ts), payload!),
        expected,
      );
    }
  });

  it("should not emit the known wrong signatures (key not base64-decoded)", () => {
    const section = doc.slice(doc.indexOf("Common implementation mistakes"));
    const wrong = [...section.matchAll(/`(v1,[^`]+)`/g)].map((m) => m[1]);
    assert.equal(wrong.length, 2);
    const b = blockAfter("### A1.");
    const payload = /^payload\s*=\s*'(.*?)'/m.exec(b)![1]!;
    const header = signatureHeader(
      [keyOf(unquote(field(b, "key")))],
      "msg_p5jXN8AQM9LWM0D4loKWxJek",
      1614265330,
      payload,
    );
    assert.ok(!wrong.includes(header));
  });

  it("should sign with every secret during a rotation, space-separated", () => {
    const a = keyOf("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    const b = keyOf("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    const body = '{"test": 2432232314}';
    const both = signatureHeader([a, b], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
    const parts = both.split(" ");
    assert.equal(parts.length, 2);
    assert.equal(parts[0], signatureHeader([a], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body));
    assert.equal(parts[1], signatureHeader([b], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body));
  });

  it("should send id and timestamp, and no signature header without a secret", () => {
    const headers = standardWebhookHeaders([], "abc", 1700000000, "{}");
    assert.deepStrictEqual(headers, { "webhook-id": "abc", "webhook-timestamp": "1700000000" });
  });

  it("should refuse a malformed or too short secret with CRW_SINK_CONFIG", () => {
    for (const bad of ["whsec_", "whsec_not base64!", "whsec_c2hvcnQ="]) {
      assert.throws(
        () => keyOf(bad),
        (err: unknown) => err instanceof CrwatchError && err.code === "CRW_SINK_CONFIG",
        bad,
      );
    }
  });
});
