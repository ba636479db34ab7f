import type { JsonObject } from "../../model/json.js";
import type { Actor, Cause } from "../../model/observation.js";

interface ManagedFieldsEntry {
  manager?: unknown;
  operation?: unknown;
  time?: unknown;
  subresource?: unknown;
}

/**
 * Who last wrote an object, from `metadata.managedFields`: the manager of the entry with the
 * newest time among Update/Apply entries of the object itself (writes to the status
 * subresource are not changes crwatch records). The operation goes into the cause.
 */
export function actorFromManagedFields(
  object: JsonObject,
): { actor: Actor; cause: Cause } | undefined {
  const metadata = object.metadata as { managedFields?: unknown } | undefined;
  const entries = Array.isArray(metadata?.managedFields)
    ? (metadata.managedFields as ManagedFieldsEntry[])
    : [];
  let newest: { manager: string; operation: string; time: string } | undefined;
  for (const entry of entries) {
    if (typeof entry?.manager !== "string" || !entry.manager) continue;
    if (entry.operation !== "Update" && entry.operation !== "Apply") continue;
    if (entry.subresource === "status") continue;
    const time = typeof entry.time === "string" ? entry.time : "";
    // RFC 3339 times in UTC compare as strings; a later entry wins a tie.
    if (!newest || time >= newest.time)
      newest = { manager: entry.manager, operation: entry.operation, time };
  }
  if (!newest) return undefined;
  return {
    actor: { name: newest.manager, via: newest.manager },
    cause: {
      kind: "managed-fields",
      message: `${newest.operation} by ${newest.manager}`,
      ...(newest.time ? { time: newest.time } : {}),
      details: { manager: newest.manager, operation: newest.operation },
    },
  };
}
