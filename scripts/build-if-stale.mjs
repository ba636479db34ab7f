// Runs the TypeScript build only when a source is newer than the last build, so `npm start`
// starts at once the second time. tsc's own incremental mode still type-checks every file.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";

const STAMP = "dist/.tsbuildinfo";
const INPUTS = ["src", "test", "bench", "tsconfig.json", "package.json"];

function newest(path) {
  const info = statSync(path, { throwIfNoEntry: false });
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = info.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

const built = statSync(STAMP, { throwIfNoEntry: false })?.mtimeMs ?? 0;
const changed = Math.max(...INPUTS.map(newest));
if (changed > built) {
  const tsc = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  // tsc leaves its build info untouched when nothing needed emitting: mark the build fresh.
  const now = new Date();
  utimesSync(STAMP, now, now);
}
