import type { Command } from "commander";
import { openExistingStore } from "./common.js";

/**
 * What an operator asks first: how far the log has got, whether each source is healthy,
 * how far behind each sink is, and what was dead-lettered.
 */
export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("last seq, source health, sink lag and dead letters")
    .option("--data-dir <dir>", "where the history is stored", ".crwatch")
    .option("--output <format>", "text or json", "text")
    .action(async (flags: { dataDir?: string; output: string }) => {
      const store = await openExistingStore(flags.dataDir);
      try {
        const lastSeq = await store.lastSeq();
        const sources = await store.listSourceHealth();
        const sinkHealth = new Map(
          (await store.listSinkHealth()).map((h) => [`sink:${h.sink}`, h]),
        );
        const consumers = (await store.listConsumerCursors()).map((c) => {
          const health = sinkHealth.get(c.consumer);
          return {
            ...c,
            lag: lastSeq - c.seq,
            ...(health ? { status: health.status, message: health.message } : {}),
          };
        });
        const deadLetters = await store.listDeadLetters();
        const openProblems = (
          await Promise.all(sources.map(async (s) => (await store.openProblems(s.source)).length))
        ).reduce((a, b) => a + b, 0);
        // Shared stores only: which replica drives which source and sink, until when.
        const leases = store.leases ? await store.leases.list() : [];
        const status = {
          lastSeq,
          sources,
          leases,
          consumers,
          deadLetters: deadLetters.length,
          openProblems,
        };
        process.stdout.write(
          flags.output === "json" ? `${JSON.stringify(status)}\n` : renderStatus(status),
        );
      } finally {
        await store.close();
      }
    });
}

interface Status {
  lastSeq: number;
  sources: {
    source: string;
    status: string;
    message: string;
    updatedAt: string;
    attempts?: number;
  }[];
  leases: { name: string; holder: string; token: number; expiresAt: string }[];
  consumers: { consumer: string; seq: number; lag: number; status?: string; message?: string }[];
  deadLetters: number;
  openProblems: number;
}

function renderStatus(status: Status): string {
  const lines = [`last seq: ${status.lastSeq}`, "sources:"];
  for (const s of status.sources) {
    const restarts = s.attempts ? `, ${s.attempts} failed attempt(s)` : "";
    lines.push(`  ${s.source}: ${s.status} (${s.message}${restarts}, ${s.updatedAt})`);
  }
  if (status.leases.length > 0) lines.push("leases:");
  for (const l of status.leases)
    lines.push(`  ${l.name}: ${l.holder} (token ${l.token}, until ${l.expiresAt})`);
  lines.push("consumers:");
  for (const c of status.consumers) {
    const health = c.status ? ` — ${c.status}: ${c.message}` : "";
    lines.push(`  ${c.consumer}: at seq ${c.seq}, ${c.lag} behind${health}`);
  }
  lines.push(`open problems: ${status.openProblems}`, `dead letters: ${status.deadLetters}`);
  return `${lines.join("\n")}\n`;
}
