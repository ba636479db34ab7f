import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { tokenDigest } from "../api/auth.js";
import { ROLES, type Role } from "../api/config.js";
import { CrwatchError } from "../model/errors.js";

interface CreateFlags {
  role: string;
  name: string;
}

export function registerTokens(program: Command): void {
  const tokens = program.command("tokens").description("API bearer tokens");
  tokens
    .command("create")
    .description(
      "print a new random token once, and the crwatch.yaml entry that accepts it (its sha256 only); revoke it by deleting the entry",
    )
    .requiredOption("--role <role>", `one of ${ROLES.join(", ")}`)
    .requiredOption("--name <name>", "who or what uses the token (shown in logs)")
    .action((flags: CreateFlags) => create(flags));
}

function create(flags: CreateFlags): void {
  if (!ROLES.includes(flags.role as Role)) {
    throw new CrwatchError("CRW_USAGE", `--role must be one of ${ROLES.join(", ")}`);
  }
  if (!/^[\w.@-]{1,64}$/.test(flags.name)) {
    throw new CrwatchError("CRW_USAGE", "--name may hold letters, digits, . _ @ - (1-64)");
  }
  const token = `crw_${randomBytes(24).toString("base64url")}`;
  process.stdout.write(
    [
      `token (shown once; give it to ${flags.name}): ${token}`,
      "add under api.tokens in crwatch.yaml:",
      `    - { name: ${flags.name}, role: ${flags.role}, sha256: ${tokenDigest(token)} }`,
      "",
    ].join("\n"),
  );
}
