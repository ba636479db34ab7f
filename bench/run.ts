import { diffScenario, lintScenario } from "./ci.js";
import { ingestScenario } from "./ingest.js";
import { rulesScenario } from "./rules.js";

/** Each scenario prints one JSON line; `npm run bench -- NAME` runs one alone. */
const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  // The whole catalog runs in `ingest` (as in serve); `ingest-norules` is the same without it.
  ingest: () => ingestScenario(),
  "ingest-norules": () => ingestScenario({ scenario: "ingest-norules", rules: false }),
  rules: rulesScenario,
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
