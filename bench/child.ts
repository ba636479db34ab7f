import { createRuleEngine } from "../src/rules/index.js";
import { naivePipelineTask, sqliteRawInsertTask } from "./baselines.js";
import { filesLatencyTask, readParseTask, startTask, walkStatTask } from "./files.js";
import { crwatchIngestTask, type IngestTaskArgs } from "./ingest.js";
import { kubernetesTask } from "./kubernetes.js";
import { postgresIngestScenario } from "./postgres.js";
import { watchCrwatchTask, watchRawTask } from "./watch.js";

/** One measurement per process (see `inChild`): `node child.js TASK JSON-ARGS`. */
// biome-ignore lint/suspicious/noExplicitAny: each task checks its own arguments' shape
const tasks: Record<string, (args: any) => Promise<Record<string, unknown>>> = {
  "crwatch-ingest": (args: IngestTaskArgs) =>
    crwatchIngestTask(args, args.rules ? createRuleEngine() : undefined),
  "ingest-postgres": postgresIngestScenario,
  "naive-pipeline": naivePipelineTask,
  "sqlite-raw-insert": sqliteRawInsertTask,
  "walk-with-stat": walkStatTask,
  "read-and-parse": readParseTask,
  start: startTask,
  "files-latency": filesLatencyTask,
  "watch-raw": watchRawTask,
  "watch-crwatch": watchCrwatchTask,
  kubernetes: kubernetesTask,
};

const [task, json] = process.argv.slice(2);
const run = task ? tasks[task] : undefined;
if (!run) {
  process.stderr.write(`unknown bench task ${task}\n`);
  process.exit(2);
}
const result = await run(JSON.parse(json ?? "{}"));
process.stdout.write(`${JSON.stringify(result)}\n`);
// Open handles (a watcher closing late) must not keep a finished measurement alive.
process.exit(0);
