import type { SinkHealthRow, SourceHealth } from "./store.js";

/**
 * Sources and sinks keep their health in one table; a sink's row is named `sink:<name>`
 * (a source name cannot contain `:`), so each dialect stores both with the same statement.
 */
const SINK_PREFIX = "sink:";

export function sinkRow(health: SinkHealthRow): SourceHealth {
  return { ...health, source: `${SINK_PREFIX}${health.sink}`, attempts: 0 };
}

export function isSinkRow(row: SourceHealth): boolean {
  return row.source.startsWith(SINK_PREFIX);
}

export function fromSinkRow(row: SourceHealth): SinkHealthRow {
  return {
    sink: row.source.slice(SINK_PREFIX.length),
    status: row.status === "ok" ? "ok" : "degraded",
    message: row.message,
    updatedAt: row.updatedAt,
  };
}
