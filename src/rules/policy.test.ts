import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cidrContains, isEverything, widenedCidrs } from "./lib/cidr.js";
import { hostOf } from "./lib/hosts.js";
import { compilePolicy, hostMatches, parseDuration } from "./policy.js";

describe("policy", () => {
  it("should match hosts exactly or by subdomain wildcard", () => {
    assert.ok(hostMatches("api.openai.com", "API.openai.com"));
    assert.ok(hostMatches("*.internal.example.org", "llm.internal.example.org"));
    assert.ok(!hostMatches("*.internal.example.org", "internal.example.org"));
    assert.ok(!hostMatches("*.internal.example.org", "evil-internal.example.org"));
    assert.ok(!hostMatches("api.openai.com", "api.openai.com.evil.net"));
  });

  it("should read durations", () => {
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("500ms"), 500);
    assert.throws(() => parseDuration("5 minutes"), /not a duration/);
  });

  it("should judge actors only for sources it names", () => {
    const p = compilePolicy({
      approvedActors: { cluster: ["system:serviceaccount:flux-system:*"] },
    });
    assert.equal(p.actorApproved("cluster", "system:serviceaccount:flux-system:helm"), true);
    assert.equal(p.actorApproved("cluster", "kubernetes-admin"), false);
    assert.equal(p.actorApproved("git", "anyone"), undefined);
  });

  it("should protect by label or by ref pattern", () => {
    const p = compilePolicy({ protected: { labels: { tier: "prod" }, refs: ["Gateway/infra/*"] } });
    const ref = { source: "s", group: "g", kind: "Gateway", namespace: "infra", name: "edge" };
    assert.ok(p.isProtected(ref, {}));
    assert.ok(p.isProtected({ ...ref, kind: "HTTPRoute" }, { tier: "prod" }));
    assert.ok(!p.isProtected({ ...ref, kind: "HTTPRoute" }, { tier: "dev" }));
  });
});

describe("CIDRs and hosts", () => {
  it("should tell when an allow list got wider", () => {
    assert.ok(cidrContains("10.0.0.0/8", "10.1.2.0/24"));
    assert.ok(!cidrContains("10.1.2.0/24", "10.0.0.0/8"));
    assert.deepEqual(widenedCidrs(["10.0.0.0/8"], ["10.1.0.0/16", "0.0.0.0/0"]), ["0.0.0.0/0"]);
    assert.ok(isEverything("::/0"));
    assert.ok(cidrContains("2001:db8::/32", "2001:db8:1::/48"));
  });

  it("should find the host of URLs and host:port targets", () => {
    assert.equal(hostOf("https://My-Endpoint.openai.azure.com/"), "my-endpoint.openai.azure.com");
    assert.equal(hostOf("198.51.100.11:80"), "198.51.100.11");
    assert.equal(hostOf("os.environ/AZURE_API_BASE"), undefined);
    assert.equal(hostOf("[2001:db8::1]:443"), "2001:db8::1");
    assert.equal(hostOf("http://[2001:db8::1]:8080/v1"), "2001:db8::1");
  });
});
