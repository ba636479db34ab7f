import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { tokenDigest } from "../api/auth.js";
import { ROLES, type Role } from "../api/config.js";
import { CrwatchError } from "../model/errors.js";

interface CreateFlags {
  role: string;
  name: string;
  namespace?: string;
  source?: string;
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
    .option(
      "--namespace <namespace>",
      'the token sees only changes and resources of this namespace ("" for cluster-scoped)',
    )
    .option("--source <name>", "the token sees only changes and resources of this source")
    .action((flags: CreateFlags) => create(flags));
}

function create(flags: CreateFlags): void {
  if (!ROLES.includes(flags.role as Role)) {
    throw new CrwatchError("CRW_USAGE", `--role must be one of ${ROLES.join(", ")}`);
  }
  if (!/^[\w.@-]{1,64}$/.test(flags.name)) {
    throw new CrwatchError("CRW_USAGE", "--name may hold letters, digits, . _ @ - (1-64)");
  }
  if (flags.source !== undefined && flags.source === "") {
    throw new CrwatchError("CRW_USAGE", "--source needs a source name");
  }
  const token = `crw_${randomBytes(24).toString("base64url")}`;
  // The scope is kept beside the digest; JSON strings are valid YAML flow scalars.
  const scope = [
    flags.namespace !== undefined ? `, namespace: ${JSON.stringify(flags.namespace)}` : "",
    flags.source !== undefined ? `, source: ${JSON.stringify(flags.source)}` : "",
  ].join("");
  process.stdout.write(
    [
      `token (shown once; give it to ${flags.name}): ${token}`,
      "add under api.tokens in crwatch.yaml:",
      `    - { name: ${flags.name}, role: ${flags.role}, sha256: ${tokenDigest(token)}${scope} }`,
      "",
    ].join("\n"),
  );
}
