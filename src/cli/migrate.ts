import type { Command } from "commander";
import { migrateHistory } from "../compose/migrate.js";

export function registerMigrate(program: Command): void {
  program
    .command("migrate")
    .description("copy a SQLite history into an empty PostgreSQL schema and verify the copy")
    .requiredOption("--from <store>", "the source: sqlite:DIR")
    .requiredOption("--to <store>", "the target: postgres://user@host/db[?schema=NAME]")
    .action(async (flags: { from: string; to: string }) => {
      const report = await migrateHistory(flags.from, flags.to);
      for (const [table, count] of Object.entries(report.rows)) {
        process.stdout.write(`${table}: ${count} row(s)\n`);
      }
      if (report.verify.ok) {
        process.stdout.write(
          `verified: ${report.verify.checked} changes, chain intact up to seq ${report.verify.lastSeq}\n`,
        );
      }
    });
}
