/**
 * One measurement per process (see `inChild`): `node child.js TASK JSON-ARGS`. Each task's
 * module is imported only when that task runs, so a measurement's peak RSS holds the code
 * it uses and not the other tasks' (YAML for the file trees, the rules engine, the watch
 * client…: ~12 MiB at the start of an ingest measurement, decision 0037).
 */
// biome-ignore lint/suspicious/noExplicitAny: each task checks its own arguments' shape
type Task = (args: any) => Promise<Record<string, unknown>>;

const tasks: Record<string, () => Promise<Task>> = {
  "crwatch-ingest": async () => {
    const { crwatchIngestTask } = await import("./ingest.js");
    return async (args) => {
      const rules = args.rules
        ? (await import("../src/rules/index.js")).createRuleEngine()
        : undefined;
      return crwatchIngestTask(args, rules);
    };
  },
  "naive-pipeline": async () => (await import("./baselines.js")).naivePipelineTask,
  "sqlite-raw-insert": async () => (await import("./baselines.js")).sqliteRawInsertTask,
  "walk-with-stat": async () => (await import("./files.js")).walkStatTask,
  "read-and-parse": async () => (await import("./files.js")).readParseTask,
  start: async () => (await import("./files.js")).startTask,
  "files-latency": async () => (await import("./files.js")).filesLatencyTask,
  "watch-raw": async () => (await import("./watch.js")).watchRawTask,
  "watch-crwatch": async () => (await import("./watch.js")).watchCrwatchTask,
  "ingest-postgres": async () => (await import("./postgres.js")).postgresIngestScenario,
  kubernetes: async () => (await import("./kubernetes.js")).kubernetesTask,
  git: async () => (await import("./git.js")).gitScenario,
};

const [task, json] = process.argv.slice(2);
const load = task ? tasks[task] : undefined;
if (!load) {
  process.stderr.write(`unknown bench task ${task}\n`);
  process.exit(2);
}
const run = await load();
const result = await run(JSON.parse(json ?? "{}"));
process.stdout.write(`${JSON.stringify(result)}\n`);
// Open handles (a watcher closing late) must not keep a finished measurement alive.
process.exit(0);
