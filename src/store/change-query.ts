import type { Change } from "../model/change.js";
import { formatRef } from "../model/ref.js";
import type { ChangeQuery } from "./store.js";

/**
 * Whether one change passes a query's filters (not its seq window, order or limit): the
 * reference semantics of `ChangeLog.readChanges`, which every dialect's SQL must match.
 * Watch streams apply it to live changes in memory.
 */
export function matchesChangeQuery(change: Change, query: ChangeQuery): boolean {
  const { ref } = change;
  if (query.types?.length && !query.types.includes(change.type)) return false;
  if (query.source !== undefined && ref.source !== query.source) return false;
  if (query.group !== undefined && ref.group !== query.group) return false;
  if (query.kind !== undefined && ref.kind !== query.kind) return false;
  if (query.namespace !== undefined && ref.namespace !== query.namespace) return false;
  if (query.name !== undefined && ref.name !== query.name) return false;
  if (query.actor !== undefined && change.actor?.name !== query.actor) return false;
  if (query.committedFrom !== undefined && change.committedAt < query.committedFrom) return false;
  if (query.committedTo !== undefined && change.committedAt >= query.committedTo) return false;
  if (query.severities?.length) {
    const wanted = query.severities;
    if (!change.findings.some((f) => wanted.includes(f.severity))) return false;
  }
  if (query.refContains) {
    const needle = query.refContains.toLowerCase();
    if (!formatRef(ref).toLowerCase().includes(needle)) return false;
  }
  return true;
}
