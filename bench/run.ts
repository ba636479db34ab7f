import { createRuleEngine } from "../src/rules/index.js";
import { diffScenario, lintScenario } from "./ci.js";
import { gitScenario } from "./git.js";
import { ingestScenario } from "./ingest.js";
import { kubernetesScenario } from "./kubernetes.js";
import { pollScenario } from "./poll.js";
import { postgresIngestScenario } from "./postgres.js";
import { rulesScenario } from "./rules.js";
import { sinksScenario } from "./sinks.js";
import { watchScenario } from "./watch.js";

/** Each scenario prints one JSON line; `npm run bench -- NAME` runs one alone. */
const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  ingest: () => ingestScenario(),
  "ingest-norules": () => ingestScenario({ scenario: "ingest-norules", rules: false }),
  rules: rulesScenario,
  watch: watchScenario,
  kubernetes: kubernetesScenario,
  sinks: sinksScenario,
  git: gitScenario,
  poll: pollScenario,
  "ingest-postgres": postgresIngestScenario,
  lint: lintScenario,
  diff: diffScenario,
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in scenarios));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown scenario(s): ${unknown.join(", ")}; known: ${Object.keys(scenarios).join(", ")}\n`,
  );
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(scenarios)) {
  const result = await scenarios[name]!();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
