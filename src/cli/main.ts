#!/usr/bin/env node
import { Command } from "commander";
import { reportFailure } from "./common.js";
import { registerDeadLetters } from "./dead-letters.js";
import { registerDiff } from "./diff.js";
import { registerHistory } from "./history.js";
import { registerLint } from "./lint.js";
import { registerServe } from "./serve.js";
import { registerShow } from "./show.js";
import { registerStatus } from "./status.js";
import { registerVerify } from "./verify.js";

const program = new Command()
  .name("crwatch")
  .description("watch gateway custom resources; record, explain and deliver every change")
  .version("0.1.0")
  .showHelpAfterError();

registerServe(program);
registerHistory(program);
registerShow(program);
registerDiff(program);
registerLint(program);
registerVerify(program);
registerStatus(program);
registerDeadLetters(program);

program.parseAsync(process.argv).catch(reportFailure);
