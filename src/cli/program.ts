import { Command, CommanderError } from "commander";
import { reportFailure } from "./common.js";
import { registerDeadLetters } from "./dead-letters.js";
import { registerDiff } from "./diff.js";
import { DEFAULT_HEAP_MIB, HEAP_ENV } from "./heap.js";
import { registerHistory } from "./history.js";
import { registerLint } from "./lint.js";
import { registerMigrate } from "./migrate.js";
import { registerServe } from "./serve.js";
import { registerShow } from "./show.js";
import { registerStatus } from "./status.js";
import { registerTail } from "./tail.js";
import { registerTokens } from "./tokens.js";
import { registerVerify } from "./verify.js";

const FOOTER = `
Exit codes:
  0  success (verify: the history is intact)
  1  verify found a broken chain, a damaged file or a lost checkpoint; lint or diff found
     a finding at or above --fail-on
  2  unusable input, arguments or configuration (the message starts with its code)

Environment:
  CRWATCH_MASK_KEY       the secret-masking key (instead of maskKey or <data dir>/mask.key)
  CRWATCH_MASK_KEY_FILE  a file holding the key (instead of maskKeyFile)
  CRWATCH_MASK_KEY_PREVIOUS(_FILE)  the key before a deliberate rotation (maskKeyPrevious)
  ${HEAP_ENV}       serve's V8 old-space limit in MiB (default ${DEFAULT_HEAP_MIB}; "off": V8's own);
                         --max-old-space-size in NODE_OPTIONS wins over it
  CRWATCH_SHARED_DIR     tests only: where ../shared fixtures and vectors are
  \${NAME} in crwatch.yaml is replaced from the environment.`;

const program = new Command()
  .name("crwatch")
  .description("watch gateway custom resources; record, explain and deliver every change")
  .version("0.1.0")
  .showHelpAfterError()
  // Usage errors look like every other error (`crwatch: CODE: …`) and exit 2.
  .configureOutput({
    outputError: (text, write) => write(`crwatch: CRW_USAGE: ${text.replace(/^error: /, "")}`),
  })
  .exitOverride()
  .addHelpText("after", FOOTER);

registerServe(program);
registerHistory(program);
registerShow(program);
registerDiff(program);
registerLint(program);
registerVerify(program);
registerStatus(program);
registerDeadLetters(program);
registerTail(program);
registerTokens(program);
registerMigrate(program);

// A reader that goes away (`crwatch history | head`) ends a read command quietly. `serve`
// is left alone: there stdout is a sink, whose write errors the dispatcher retries.
program.hook("preAction", (_root, command) => {
  if (command.name() !== "serve") quietOnClosedStdout();
});

function quietOnClosedStdout(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Help and --version exit 0; anything else commander refused is a usage error.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    return;
  }
  reportFailure(err);
});
