import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { sharedDir } from "../../../test/helpers.js";
import { CrwatchError } from "../../model/errors.js";
import { WebhookVerifier } from "./signature.js";

const TOLERANCE_MS = 300_000;

/** The text between two headings of the vectors file. */
function section(text: string, from: string, to: string): string {
  const start = text.indexOf(from);
  const end = text.indexOf(to, start + from.length);
  assert.ok(start !== -1 && end !== -1, `section ${from} in the vectors file`);
  return text.slice(start, end);
}

/** `name = "value"` / `'value'` / `br#"value"#` / a bare number, from a vector block. */
function field(block: string, name: string): string {
  const line = new RegExp(`^${name}\\s*=\\s*(.+)$`, "m").exec(block)?.[1]?.trim();
  assert.ok(line, `field ${name}`);
  const quoted = /^(?:br#"(.*)"#|"([^"]*)"|'([^']*)')/.exec(line);
  return quoted ? (quoted[1] ?? quoted[2] ?? quoted[3])! : line.split(/\s/)[0]!;
}

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CrwatchError);
    assert.equal(err.code, "CRW_WEBHOOK_SIGNATURE");
    assert.match(err.message, pattern);
    return true;
  });
}

describe("Standard Webhooks signatures (vectors read from ../shared)", () => {
  let text: string;
  let a1: { key: string; id: string; timestamp: string; payload: string; expected: string };
  before(async () => {
    text = await readFile(join(sharedDir, "vectors/standard-webhooks.md"), "utf8");
    const block = section(text, "### A1.", "### A2.");
    a1 = {
      key: field(block, "key"),
      id: field(block, "msgId"),
      timestamp: field(block, "timestamp"),
      payload: field(block, "payload"),
      expected: field(block, "expected"),
    };
  });

  it("should sign and verify vectors A1 and A2", () => {
    const b = section(text, "### A2.", "### A3.");
    const cases = [
      a1,
      {
        key: field(b, "secret"),
        id: field(b, "msg_id"),
        timestamp: field(b, "timestamp"),
        payload: field(b, "payload"),
        expected: field(b, "expected"),
      },
    ];
    for (const v of cases) {
      const verifier = new WebhookVerifier(v.key, TOLERANCE_MS);
      assert.equal(verifier.sign(v.id, v.timestamp, v.payload), v.expected);
      const headers = { id: v.id, timestamp: v.timestamp, signature: v.expected };
      assert.equal(
        verifier.verify(headers, Buffer.from(v.payload), Number(v.timestamp) * 1000),
        Number(v.timestamp) * 1000,
      );
    }
  });

  it("should give the derived signatures of A4 and none of the known mistakes", () => {
    const verifier = new WebhookVerifier(a1.key, TOLERANCE_MS);
    const rows = [
      ...section(text, "### A4.", "Common implementation mistakes").matchAll(
        /^\| (\d+)[^|]*\| `([^`]*)`[^|]*\| `(v1,[^`]+)` \|$/gm,
      ),
    ];
    assert.equal(rows.length, 4, "four derived vectors");
    for (const [, timestamp, payload, expected] of rows) {
      assert.equal(verifier.sign(a1.id, timestamp!, payload!), expected, `${timestamp} ${payload}`);
    }
    const mistakes = [
      ...section(text, "Common implementation mistakes", "Pitfall noted").matchAll(/`(v1,[^`]+)`/g),
    ];
    assert.equal(mistakes.length, 2);
    for (const [, wrong] of mistakes)
      assert.notEqual(verifier.sign(a1.id, a1.timestamp, a1.payload), wrong);
  });

  it("should reject the negative vectors of A3 and accept its one valid multi-signature", () => {
    const rows = section(text, "### A3.", "### A4.")
      .split("\n")
      .filter((l) => l.startsWith("| ") && l.includes("`v1,"));
    assert.ok(rows.length >= 6, `${rows.length} rows with signatures`);
    const now = 1_700_000_000;
    const verifier = new WebhookVerifier(a1.key, TOLERANCE_MS);
    const valid = verifier.sign(a1.id, now, a1.payload);
    for (const row of rows) {
      const [, name, header, expected] = row.split("|").map((c) => c.trim());
      const signature = [...header!.matchAll(/`(?:webhook-signature: )?([^`]*)`/g)]
        .map((m) => m[1]!.replace("<valid v1 sig>", valid))
        .join(" ");
      const headers = { id: a1.id, timestamp: String(now), signature };
      const verify = () => verifier.verify(headers, Buffer.from(a1.payload), now * 1000);
      if (expected!.startsWith("accept")) assert.doesNotThrow(verify, name);
      else rejects(verify, /no valid v1 signature/);
    }
    rejects(
      () =>
        verifier.verify(
          { id: a1.id, timestamp: String(now), signature: valid.slice(0, 8) },
          Buffer.from(a1.payload),
          now * 1000,
        ),
      /no valid v1 signature/,
    );
  });

  it("should reject missing headers, a non-numeric timestamp, and one outside ±5 minutes", () => {
    const verifier = new WebhookVerifier(a1.key, TOLERANCE_MS);
    const body = Buffer.from(a1.payload);
    const at = Number(a1.timestamp);
    const ok = { id: a1.id, timestamp: a1.timestamp, signature: a1.expected };
    rejects(
      () => verifier.verify({ ...ok, id: undefined }, body, at * 1000),
      /missing header webhook-id/,
    );
    rejects(
      () => verifier.verify({ ...ok, signature: undefined }, body, at * 1000),
      /missing header webhook-signature/,
    );
    rejects(
      () => verifier.verify({ ...ok, timestamp: "hello" }, body, at * 1000),
      /not a whole number/,
    );
    rejects(
      () => verifier.verify({ ...ok, timestamp: `${a1.timestamp}abc` }, body, at * 1000),
      /not a whole number/,
    );
    rejects(() => verifier.verify(ok, body, (at + 301) * 1000), /too old/);
    rejects(() => verifier.verify(ok, body, (at - 301) * 1000), /too far in the future/);
    assert.doesNotThrow(() => verifier.verify(ok, body, (at + 300) * 1000));
    assert.doesNotThrow(() => verifier.verify(ok, body, (at - 300) * 1000));
  });

  it("should take a secret without its base64 padding, with or without whsec_", () => {
    const padded = new WebhookVerifier("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==", TOLERANCE_MS);
    const bare = new WebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr", TOLERANCE_MS);
    const signature = padded.sign("msg_1", 1_700_000_000, "{}");
    assert.doesNotThrow(() =>
      bare.verify(
        { id: "msg_1", timestamp: "1700000000", signature },
        Buffer.from("{}"),
        1_700_000_000_000,
      ),
    );
    assert.throws(() => new WebhookVerifier("whsec_", TOLERANCE_MS), /secret is empty/);
  });
});
