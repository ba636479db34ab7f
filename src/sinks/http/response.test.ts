import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { retryAfterMs, verdictOf } from "./response.js";

const NOW = Date.parse("2026-11-26T08:00:00.000Z");

describe("HTTP answers as delivery outcomes", () => {
  it("should count every 2xx as delivered", () => {
    for (const status of [200, 201, 202, 204])
      assert.equal(verdictOf(status, null, NOW).status, "delivered");
  });

  it("should retry 5xx, 408 and 3xx, and refuse other 4xx for good", () => {
    for (const status of [500, 502, 504, 408, 302])
      assert.equal(verdictOf(status, null, NOW).status, "retry");
    for (const status of [400, 401, 403, 404, 413, 422])
      assert.equal(verdictOf(status, null, NOW).status, "rejected");
  });

  it("should disable the endpoint on 410", () => {
    assert.equal(verdictOf(410, null, NOW).status, "gone");
  });

  it("should honour Retry-After in seconds and as an HTTP-date on 429 and 503", () => {
    assert.deepStrictEqual(verdictOf(429, "7", NOW), {
      status: "retry",
      error: "HTTP 429",
      notBefore: NOW + 7000,
    });
    const date = "Thu, 26 Nov 2026 08:01:00 GMT";
    assert.deepStrictEqual(verdictOf(503, date, NOW), {
      status: "retry",
      error: "HTTP 503",
      notBefore: NOW + 60_000,
    });
  });

  it("should ignore an unreadable Retry-After and a date in the past", () => {
    assert.equal(retryAfterMs("soon", NOW), undefined);
    assert.equal(retryAfterMs("Thu, 26 Nov 2026 07:00:00 GMT", NOW), NOW);
    assert.deepStrictEqual(verdictOf(429, "soon", NOW), { status: "retry", error: "HTTP 429" });
  });
});
