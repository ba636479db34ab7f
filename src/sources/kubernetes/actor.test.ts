import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { actorFromManagedFields } from "./actor.js";

describe("actorFromManagedFields", () => {
  it("should name the manager of the newest Update/Apply entry, ignoring status writes", () => {
    const found = actorFromManagedFields({
      metadata: {
        managedFields: [
          { manager: "helm", operation: "Update", time: "2026-01-01T10:00:00Z" },
          { manager: "kubectl", operation: "Apply", time: "2026-01-02T10:00:00Z" },
          {
            manager: "controller",
            operation: "Update",
            subresource: "status",
            time: "2026-01-03T10:00:00Z",
          },
        ],
      },
    });
    assert.deepStrictEqual(found?.actor, { name: "kubectl", via: "kubectl" });
    assert.equal(found?.cause.time, "2026-01-02T10:00:00Z");
    assert.deepStrictEqual(found?.cause.details, { manager: "kubectl", operation: "Apply" });
  });

  it("should give nothing for objects without usable managedFields", () => {
    assert.equal(actorFromManagedFields({ metadata: {} }), undefined);
    assert.equal(actorFromManagedFields({ metadata: { managedFields: "x" } }), undefined);
    assert.equal(
      actorFromManagedFields({ metadata: { managedFields: [{ operation: "Update" }] } }),
      undefined,
    );
  });
});
