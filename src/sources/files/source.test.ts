import assert from "node:assert/strict";
import { mkdir, readdir, rename, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { tempDir, waitFor } from "../../../test/helpers.js";
import { type Clock, FakeClock, systemClock } from "../../core/clock.js";
import { sharedParsePool } from "../../formats/parse-pool.js";
import type { Observation, ObservationEvent } from "../../model/observation.js";
import { SourceRuntime } from "../runtime.js";
import type { Source } from "../source.js";
import type { FilesSourceConfig } from "./config.js";
import { createFilesSource, type FilesSourceTuning } from "./source.js";

const resource = (kind: string, name: string, extra = "") =>
  `apiVersion: gateway.networking.k8s.io/v1\nkind: ${kind}\nmetadata:\n  name: ${name}\n  namespace: shop\n${extra}`;
const route = (name: string, extra = "") => resource("HTTPRoute", name, extra);

/** A started source and everything it emitted and logged. */
interface Harness {
  source: Source;
  runtime: SourceRuntime;
  observations: Observation[];
  logs: Array<{ level: number; msg: string }>;
  /** Events of the observations from index `from` on. */
  events(from?: number): ObservationEvent[];
  /** Waits until an event from index `from` on satisfies `match`. */
  waitForEvent(
    match: (e: ObservationEvent) => boolean,
    from?: number,
    what?: string,
  ): Promise<ObservationEvent>;
}

const running: SourceRuntime[] = [];
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const runtime of running.splice(0)) await runtime.stop();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function workDir(): Promise<string> {
  const dir = await tempDir("crwatch-files-");
  cleanups.push(dir.cleanup);
  return dir.path;
}

async function start(
  config: Partial<FilesSourceConfig> & { paths: string[] },
  options: {
    tuning?: FilesSourceTuning;
    emit?: (o: Observation) => Promise<void>;
    clock?: Clock;
    workDir?: string;
    /** False: return at once, without waiting for the first full view. */
    ready?: boolean;
    /** The cursors the store holds for the source (default none). */
    cursors?: Record<string, string>;
    stateKey?: string;
  } = {},
): Promise<Harness> {
  const source = createFilesSource(
    { name: "local", type: "files", debounceMs: 50, ...config },
    options.tuning,
    options.workDir,
    options.stateKey,
  );
  const observations: Observation[] = [];
  const logs: Harness["logs"] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const emit = options.emit ?? (async () => {});
  const runtime = new SourceRuntime([source], {
    commit: async (observation) => {
      await emit(observation);
      observations.push(observation);
    },
    loadCursors: async () => options.cursors ?? {},
    onHealth: () => undefined,
    log: pino({ level: "debug" }, sink),
    clock: options.clock ?? systemClock,
    emitRetry: { initialDelayMs: 20, maxDelayMs: 40 },
  });
  running.push(runtime);
  runtime.start();
  if (options.ready !== false) await runtime.ready();
  const events = (from = 0) => observations.slice(from).flatMap((o) => o.events);
  const waitForEvent = (match: (e: ObservationEvent) => boolean, from = 0, what = "event") =>
    waitFor(() => events(from).find(match), 10_000, what);
  return { source, runtime, observations, logs, events, waitForEvent };
}

const names = (events: ObservationEvent[], type: "upsert" | "delete") =>
  events
    .flatMap((e) => (e.type === "upsert" && type === "upsert" ? [e.item.ref.name] : []))
    .concat(events.flatMap((e) => (e.type === "delete" && type === "delete" ? [e.ref.name] : [])))
    .sort();
const snapshotOf = (events: ObservationEvent[]) => {
  const snapshot = events.find((e) => e.type === "snapshot");
  assert.ok(snapshot?.type === "snapshot", "a snapshot event");
  return snapshot;
};
const isUpsertOf = (name: string) => (e: ObservationEvent) =>
  e.type === "upsert" && e.item.ref.name === name;
const isProblem = (code: string) => (e: ObservationEvent) =>
  e.type === "problem" && e.problem.code === code;

describe("files source", () => {
  it("should emit one snapshot of every selected file at start", async () => {
    const dir = await workDir();
    await mkdir(join(dir, "sub"));
    await mkdir(join(dir, ".hidden"));
    await writeFile(join(dir, "a.yaml"), `${route("one")}---\n${route("two")}`);
    await writeFile(join(dir, "sub", "b.yml"), route("three"));
    await writeFile(join(dir, "c.json"), JSON.stringify({ note: "not a resource" }));
    await writeFile(join(dir, "notes.txt"), route("ignored-txt"));
    await writeFile(join(dir, ".hidden", "d.yaml"), route("ignored-hidden"));
    await writeFile(join(dir, "skip.yaml"), route("ignored-excluded"));
    const h = await start({ paths: [dir], exclude: ["skip.yaml"] });
    assert.equal(h.observations.length, 1);
    const [observation] = h.observations;
    assert.equal(observation?.source, "local");
    assert.match(observation?.cursors?.default ?? "", /^[0-9a-f]{16}$/);
    assert.deepEqual(
      observation?.events.map((e) => e.type),
      ["snapshot"],
    );
    const snapshot = snapshotOf(h.events());
    assert.deepEqual(snapshot.keep, []);
    assert.deepEqual(
      snapshot.items.map((i) => [i.ref.kind, i.ref.name, i.location?.path, i.location?.line]),
      [
        ["HTTPRoute", "one", join(dir, "a.yaml"), 1],
        ["HTTPRoute", "two", join(dir, "a.yaml"), 7],
        ["Document", "c.json#0", join(dir, "c.json"), 1],
        ["HTTPRoute", "three", join(dir, "sub", "b.yml"), 1],
      ],
    );
  });

  it("should upsert the resources of a file that is created", async () => {
    const dir = await workDir();
    const h = await start({ paths: [dir] });
    await writeFile(join(dir, "new.yaml"), route("fresh"));
    const event = await h.waitForEvent(isUpsertOf("fresh"), 1, "upsert of fresh");
    assert.equal(event.type === "upsert" && event.item.location?.path, join(dir, "new.yaml"));
  });

  it("should upsert the resources of a file that is modified", async () => {
    const dir = await workDir();
    await writeFile(join(dir, "r.yaml"), route("r", "spec: {hostnames: [a.example]}\n"));
    const h = await start({ paths: [dir] });
    await writeFile(join(dir, "r.yaml"), route("r", "spec: {hostnames: [b.example]}\n"));
    const event = await h.waitForEvent(isUpsertOf("r"), 1, "upsert of r");
    assert.deepEqual(event.type === "upsert" && event.item.object.spec, {
      hostnames: ["b.example"],
    });
  });

  it("should delete the resources of a file that is deleted", async () => {
    const dir = await workDir();
    await writeFile(join(dir, "gone.yaml"), `${route("x")}---\n${route("y")}`);
    await writeFile(join(dir, "stays.yaml"), route("z"));
    const h = await start({ paths: [dir] });
    await rm(join(dir, "gone.yaml"));
    await h.waitForEvent((e) => e.type === "delete" && e.ref.name === "y", 1, "delete of y");
    await h.runtime.flush();
    assert.deepEqual(names(h.events(1), "delete"), ["x", "y"]);
    assert.deepEqual(names(h.events(1), "upsert"), []);
  });

  it("should upsert and not delete when a file is renamed", async () => {
    const dir = await workDir();
    await writeFile(join(dir, "old.yaml"), route("moved"));
    const h = await start({ paths: [dir] });
    await rename(join(dir, "old.yaml"), join(dir, "new.yaml"));
    const event = await h.waitForEvent(isUpsertOf("moved"), 1, "upsert of moved");
    assert.equal(event.type === "upsert" && event.item.location?.path, join(dir, "new.yaml"));
    await h.runtime.flush();
    assert.deepEqual(names(h.events(1), "delete"), []);
  });

  it("should see an atomic save (temp file renamed over the target) as one upsert batch", async () => {
    const dir = await workDir();
    const target = join(dir, "app.yaml");
    await writeFile(target, route("app", "spec: {v: 1}\n"));
    const h = await start({ paths: [dir] });
    await writeFile(`${target}.tmp-123`, route("app", "spec: {v: 2}\n"));
    await rename(`${target}.tmp-123`, target);
    await h.waitForEvent(isUpsertOf("app"), 1, "upsert of app");
    await h.runtime.flush();
    const batches = h.observations.slice(1);
    assert.equal(batches.length, 1, "one batch");
    assert.deepEqual(
      batches[0]?.events.map((e) => e.type),
      ["upsert"],
    );
  });

  it("should report a file that becomes malformed without deleting, then recover", async () => {
    const dir = await workDir();
    const file = join(dir, "r.yaml");
    await writeFile(file, `${route("a")}---\n${route("b")}`);
    const h = await start({ paths: [dir] });
    await writeFile(file, `${route("a")}---\nkind: [unclosed\n`);
    const problem = await h.waitForEvent(isProblem("CRW_YAML_SYNTAX"), 1, "syntax problem");
    assert.equal(problem.type === "problem" && problem.problem.location.path, file);
    await h.runtime.flush();
    assert.deepEqual(names(h.events(1), "delete"), []);
    assert.deepEqual(names(h.events(1), "upsert"), []);

    const mark = h.observations.length;
    await writeFile(file, route("a", "spec: {fixed: true}\n"));
    await h.waitForEvent((e) => e.type === "recovered" && e.location === file, mark, "recovered");
    assert.deepEqual(names(h.events(mark), "upsert"), ["a"]);
    assert.deepEqual(names(h.events(mark), "delete"), ["b"], "b is gone from the fixed file");
  });

  it("should use the first of two files defining one resource and report the other", async () => {
    const dir = await workDir();
    await writeFile(join(dir, "a.yaml"), route("twin", "spec: {from: a}\n"));
    await writeFile(join(dir, "b.yaml"), route("twin", "spec: {from: b}\n"));
    const h = await start({ paths: [dir] });
    const snapshot = snapshotOf(h.events());
    assert.deepEqual(
      snapshot.items.map((i) => i.object.spec),
      [{ from: "a" }],
    );
    const problem = h.events().find(isProblem("CRW_DUPLICATE_RESOURCE"));
    assert.ok(problem?.type === "problem");
    assert.equal(problem.problem.location.path, join(dir, "b.yaml"));
    assert.ok(problem.problem.message.includes(join(dir, "a.yaml")));
    assert.ok(problem.problem.message.includes(join(dir, "b.yaml")));

    await rm(join(dir, "a.yaml"));
    const upsert = await h.waitForEvent(isUpsertOf("twin"), 1, "upsert from b");
    assert.deepEqual(upsert.type === "upsert" && upsert.item.object.spec, { from: "b" });
    await h.waitForEvent((e) => e.type === "recovered" && e.location === join(dir, "b.yaml"), 1);
    assert.deepEqual(names(h.events(1), "delete"), []);
  });

  it("should watch only what a glob matches", async () => {
    const dir = await workDir();
    await mkdir(join(dir, "m", "deep"), { recursive: true });
    await writeFile(join(dir, "m", "in.yaml"), route("in"));
    await writeFile(join(dir, "m", "out.json"), "{}");
    await writeFile(join(dir, "m", "deep", "out.yaml"), route("deep"));
    await writeFile(join(dir, "other.yaml"), route("other"));
    const h = await start({ paths: [join(dir, "m", "*.yaml")] });
    assert.deepEqual(
      snapshotOf(h.events()).items.map((i) => i.ref.name),
      ["in"],
    );
    await writeFile(join(dir, "m", "deep", "out.yaml"), route("deep", "spec: {}\n"));
    await writeFile(join(dir, "m", "later.yaml"), route("later"));
    await h.waitForEvent(isUpsertOf("later"), 1, "upsert of later");
    await h.runtime.flush();
    assert.deepEqual(names(h.events(1), "upsert"), ["later"]);
  });

  it("should not hang on a directory symlink to its parent and report the loop", async () => {
    const dir = await workDir();
    await mkdir(join(dir, "sub"));
    await writeFile(join(dir, "sub", "r.yaml"), route("r"));
    await symlink(dir, join(dir, "sub", "loop"), "dir");
    const h = await start({ paths: [dir] });
    const events = h.events();
    assert.deepEqual(
      snapshotOf(events).items.map((i) => i.location?.path),
      [join(dir, "sub", "r.yaml")],
    );
    const loop = events.find(isProblem("CRW_SYMLINK_LOOP"));
    assert.equal(loop?.type === "problem" && loop.problem.location.path, join(dir, "sub", "loop"));

    await writeFile(join(dir, "sub", "r.yaml"), route("r", "spec: {after: loop}\n"));
    await h.waitForEvent(isUpsertOf("r"), 1, "upsert of r");
    await h.runtime.flush();
    assert.equal(h.events(1).filter(isProblem("CRW_SYMLINK_LOOP")).length, 0, "reported once");
  });

  it("should read a root that is missing at start once it appears", async () => {
    const dir = await workDir();
    const root = join(dir, "later", "manifests");
    const h = await start({ paths: [root] });
    const events = h.events();
    assert.deepEqual(snapshotOf(events).keep, [{ locationPrefix: root }]);
    const missing = events.find(isProblem("CRW_PATH_MISSING"));
    assert.equal(missing?.type === "problem" && missing.problem.location.path, root);
    assert.ok(
      h.logs.some((l) => l.level === 40 && /does not exist/.test(l.msg)),
      "a warning",
    );

    await mkdir(root, { recursive: true });
    await writeFile(join(root, "r.yaml"), route("arrived"));
    await h.waitForEvent(
      (e) => e.type === "snapshot" && e.items.some((i) => i.ref.name === "arrived"),
      1,
      "snapshot with arrived",
    );
    await h.waitForEvent((e) => e.type === "recovered" && e.location === root, 1, "recovered root");
  });

  it("should see an edit of a file reached through a symbolic link from outside the tree", async () => {
    const [dir, elsewhere] = [await workDir(), await workDir()];
    await writeFile(join(elsewhere, "real.yaml"), route("linked", "spec: {v: 1}\n"));
    await symlink(join(elsewhere, "real.yaml"), join(dir, "linked.yaml"));
    const h = await start({ paths: [dir] });
    assert.deepEqual(snapshotOf(h.events()).items[0]?.object.spec, { v: 1 });
    // Nothing changes in the watched directory itself.
    await writeFile(join(elsewhere, "real.yaml"), route("linked", "spec: {v: 2}\n"));
    const upsert = await h.waitForEvent(isUpsertOf("linked"), 1, "upsert through the link");
    assert.deepEqual(upsert.type === "upsert" && upsert.item.object.spec, { v: 2 });
  });

  it("should see a Kubernetes volume update made by swapping the ..data symlink", async () => {
    const dir = await workDir();
    await mkdir(join(dir, "..v1"));
    await writeFile(join(dir, "..v1", "config.yaml"), route("cm", "spec: {v: 1}\n"));
    await symlink("..v1", join(dir, "..data"), "dir");
    await symlink(join("..data", "config.yaml"), join(dir, "config.yaml"));
    const h = await start({ paths: [dir] });
    assert.deepEqual(
      snapshotOf(h.events()).items.map((i) => i.location?.path),
      [join(dir, "config.yaml")],
      "read once, through the top-level link",
    );
    await mkdir(join(dir, "..v2"));
    await writeFile(join(dir, "..v2", "config.yaml"), route("cm", "spec: {v: 2}\n"));
    await symlink("..v2", join(dir, "..data_tmp"), "dir");
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    await rm(join(dir, "..v1"), { recursive: true });
    const event = await h.waitForEvent(isUpsertOf("cm"), 1, "upsert of cm");
    assert.deepEqual(event.type === "upsert" && event.item.object.spec, { v: 2 });
    assert.deepEqual(names(h.events(1), "delete"), []);
  });

  it("should watch a file named in paths whatever its extension", async () => {
    const dir = await workDir();
    const file = join(dir, "gateway.conf");
    await writeFile(file, route("named"));
    const h = await start({ paths: [file] });
    assert.deepEqual(
      snapshotOf(h.events()).items.map((i) => i.ref.name),
      ["named"],
    );
    await writeFile(join(dir, "sibling.yaml"), route("sibling"));
    await writeFile(file, route("named", "spec: {v: 2}\n"));
    await h.waitForEvent(isUpsertOf("named"), 1, "upsert of named");
    await h.runtime.flush();
    assert.deepEqual(names(h.events(1), "upsert"), ["named"]);
  });

  it("should emit pending changes on flush without waiting for the debounce", async () => {
    const dir = await workDir();
    const h = await start({ paths: [dir], debounceMs: 60_000 }, { tuning: { maxWaitMs: 60_000 } });
    await writeFile(join(dir, "now.yaml"), route("now"));
    await h.runtime.flush();
    assert.deepEqual(names(h.events(1), "upsert"), ["now"]);
  });

  it("should have the runtime log a failed commit and retry the same batch until it goes through", async () => {
    const dir = await workDir();
    let failures = 0;
    const h = await start(
      { paths: [dir] },
      {
        emit: async (o) => {
          if (o.events.some((e) => e.type === "upsert") && failures++ < 2)
            throw new Error("store is busy");
        },
      },
    );
    await writeFile(join(dir, "r.yaml"), route("retried"));
    await h.waitForEvent(isUpsertOf("retried"), 1, "upsert after retries");
    assert.equal(failures, 3);
    // Logged in full once per episode, then quietly at debug level, then the recovery.
    const logged = (level: number) =>
      h.logs.filter((l) => l.level === level && /commit|commits/.test(l.msg)).length;
    assert.equal(logged(50), 1);
    assert.equal(logged(20), 1);
    assert.equal(logged(30), 1);
  });

  it("should debounce on the injected clock: one batch debounceMs after the first event", async () => {
    const dir = await workDir();
    const clock = new FakeClock();
    const h = await start({ paths: [dir], debounceMs: 300 }, { clock });
    await writeFile(join(dir, "a.yaml"), route("a"));
    // The watcher's event arrives in real time and arms a timer on the fake clock.
    await waitFor(() => clock.pending().includes(300), 10_000, "a debounce timer");
    await clock.advance(299);
    assert.equal(h.observations.length, 1, "nothing before debounceMs is over");
    await clock.advance(1);
    await h.waitForEvent(isUpsertOf("a"), 1, "the batch after the debounce");
  });

  it("should not let later events of a burst hold the batch back", async () => {
    const dir = await workDir();
    const clock = new FakeClock();
    const h = await start({ paths: [dir], debounceMs: 300 }, { clock });
    await writeFile(join(dir, "a.yaml"), route("a"));
    await waitFor(() => clock.pending().includes(300), 10_000, "a debounce timer");
    await clock.advance(250);
    await writeFile(join(dir, "b.yaml"), route("b"));
    const dirty = (h.source as unknown as { dirty: Set<string> }).dirty;
    await waitFor(() => dirty.size === 2, 10_000, "the second event");
    // The second event joined the batch; the timer still fires 300 ms after the first.
    assert.ok(clock.pending().includes(50));
    assert.ok(!clock.pending().includes(300));
    assert.equal(h.observations.length, 1);
    await clock.advance(50);
    await h.waitForEvent(isUpsertOf("b"), 1, "the batch");
    assert.deepEqual(names(h.events(1), "upsert"), ["a", "b"]);
  });

  it("should cap the debounce at maxWaitMs", async () => {
    const dir = await workDir();
    const clock = new FakeClock();
    const h = await start({ paths: [dir], debounceMs: 300 }, { clock, tuning: { maxWaitMs: 120 } });
    await writeFile(join(dir, "a.yaml"), route("a"));
    await waitFor(() => clock.pending().includes(120), 10_000, "a capped timer");
    await clock.advance(120);
    await h.waitForEvent(isUpsertOf("a"), 1, "the capped batch");
  });

  it("should see a file made in a new directory, and files gone with their directory", async () => {
    const dir = await workDir();
    await mkdir(join(dir, "old"));
    await writeFile(join(dir, "old", "x.yaml"), route("x"));
    const h = await start({ paths: [dir] });
    await mkdir(join(dir, "new"));
    await writeFile(join(dir, "new", "y.yaml"), route("y"));
    await h.waitForEvent(isUpsertOf("y"), 1, "the file in the new directory");
    const from = h.observations.length;
    await rm(join(dir, "old"), { recursive: true });
    await h.waitForEvent((e) => e.type === "delete" && e.ref.name === "x", from, "x deleted");
  });

  it("should walk again on the periodic check, on the injected clock", async () => {
    const dir = await workDir();
    const clock = new FakeClock();
    const h = await start(
      { paths: [dir], debounceMs: 60_000 },
      { clock, tuning: { maxWaitMs: 60_000, fullWalkIntervalMs: 1000 } },
    );
    await writeFile(join(dir, "a.yaml"), route("a"));
    const dirty = (h.source as unknown as { dirty: Set<string> }).dirty;
    await waitFor(() => dirty.size === 1, 10_000, "the event");
    assert.equal(h.observations.length, 1);
    // The debounce is a minute away; the periodic walk, a second.
    await clock.advance(1000);
    await h.waitForEvent(isUpsertOf("a"), 1, "the periodic walk");
  });

  it("should re-read after a restart only the files whose signature moved", async () => {
    const dir = await workDir();
    const state = await workDir();
    await writeFile(join(dir, "same.yaml"), route("same"));
    await writeFile(join(dir, "edited.yaml"), route("edited"));
    await writeFile(join(dir, "removed.yaml"), route("removed"));
    const first = await start({ paths: [dir] }, { workDir: state });
    assert.deepEqual(
      snapshotOf(first.events()).items.map((i) => i.ref.name),
      ["edited", "removed", "same"],
    );
    await first.runtime.stop();
    await writeFile(join(dir, "edited.yaml"), route("edited", "spec: {v: 2}\n"));
    await rm(join(dir, "removed.yaml"));
    await writeFile(join(dir, "added.yaml"), route("added"));
    const second = await start({ paths: [dir] }, { workDir: state });
    const items = snapshotOf(second.events()).items;
    assert.deepEqual(
      items.map((i) => i.ref.name),
      ["added", "edited", "same"],
    );
    assert.deepEqual(items.find((i) => i.ref.name === "edited")?.object.spec, { v: 2 });
    const reads = second.logs.filter((l) => l.msg === "reading files") as unknown as {
      read: number;
      files: number;
    }[];
    assert.deepEqual(
      reads.map((l) => [l.read, l.files]),
      [[2, 3]],
      "only the edited and the added file were read",
    );
  });

  describe("a restart with nothing changed", () => {
    /** A first run that emitted its view and stopped; the cursor the store would hold. */
    async function firstRun(dir: string, state: string, stateKey = "") {
      await writeFile(join(dir, "a.yaml"), route("a"));
      await writeFile(join(dir, "b.yaml"), route("b"));
      const first = await start({ paths: [dir] }, { workDir: state, stateKey });
      await first.runtime.stop();
      running.splice(running.indexOf(first.runtime), 1);
      return first.observations.at(-1)?.cursors ?? {};
    }

    it("should emit nothing and parse nothing when the store holds its cursor", async () => {
      const [dir, state] = [await workDir(), await workDir()];
      const cursors = await firstRun(dir, state);
      const again = await start({ paths: [dir] }, { workDir: state, cursors });
      assert.deepEqual(again.observations, []);
      assert.ok(again.logs.some((l) => l.msg === "nothing changed since the last run"));
      assert.equal(
        again.logs.find((l) => l.msg === "parsed"),
        undefined,
      );
      // Watching goes on as usual.
      await writeFile(join(dir, "a.yaml"), route("a", "spec: {v: 2}\n"));
      const upsert = await again.waitForEvent(isUpsertOf("a"));
      assert.deepEqual(upsert.type === "upsert" && upsert.item.object.spec, { v: 2 });
    });

    it("should emit the snapshot when the store holds another cursor", async () => {
      const [dir, state] = [await workDir(), await workDir()];
      await firstRun(dir, state);
      const again = await start({ paths: [dir] }, { workDir: state, cursors: { default: "x" } });
      assert.deepEqual(
        snapshotOf(again.events()).items.map((i) => i.ref.name),
        ["a", "b"],
      );
    });

    it("should emit what the read cache's texts file holds, and read every file when it is cut short", async () => {
      const [dir, state] = [await workDir(), await workDir()];
      await writeFile(join(dir, "c.yaml"), route("c", "spec: {hostnames: [ä.example]}\n"));
      await firstRun(dir, state);
      const textsFiles = async () => (await readdir(state)).filter((n) => n.endsWith(".texts"));
      const saved = await textsFiles();
      const again = await start({ paths: [dir] }, { workDir: state, cursors: { default: "x" } });
      const items = snapshotOf(again.events()).items;
      assert.deepEqual(
        items.map((i) => [i.ref.name, i.object.metadata]),
        ["a", "b", "c"].map((name) => [name, { name, namespace: "shop" }]),
      );
      assert.deepEqual(items[2]?.object.spec, { hostnames: ["ä.example"] }, "read from the cache");
      assert.equal(
        again.logs.find((l) => l.msg === "parsed"),
        undefined,
        "no file parsed",
      );
      await again.runtime.stop();
      running.splice(running.indexOf(again.runtime), 1);
      const texts = await textsFiles();
      assert.deepEqual(texts, saved, "no file read again: the cache is not written again");
      await truncate(join(state, texts[0]!), 100);
      const third = await start({ paths: [dir] }, { workDir: state, cursors: { default: "x" } });
      assert.ok(third.logs.some((l) => l.level === 40 && /read cache unusable/.test(l.msg)));
      assert.deepEqual(
        snapshotOf(third.events()).items.map((i) => i.object.metadata),
        ["a", "b", "c"].map((name) => ({ name, namespace: "shop" })),
      );
    });

    it("should emit the snapshot when ingest's settings changed (another state key)", async () => {
      const [dir, state] = [await workDir(), await workDir()];
      const cursors = await firstRun(dir, state, "key-1");
      const again = await start({ paths: [dir] }, { workDir: state, cursors, stateKey: "key-2" });
      assert.deepEqual(
        snapshotOf(again.events()).items.map((i) => i.ref.name),
        ["a", "b"],
      );
    });

    it("should emit the snapshot when a file changed while it was down", async () => {
      const [dir, state] = [await workDir(), await workDir()];
      const cursors = await firstRun(dir, state);
      await writeFile(join(dir, "b.yaml"), route("b", "spec: {v: 2}\n"));
      const again = await start({ paths: [dir] }, { workDir: state, cursors });
      const items = snapshotOf(again.events()).items;
      assert.deepEqual(items.find((i) => i.ref.name === "b")?.object.spec, { v: 2 });
    });
  });

  it("should emit a big view as a paged snapshot, the cursor with its last page", async () => {
    const dir = await workDir();
    for (const name of ["a", "b", "c", "d", "e"])
      await writeFile(join(dir, `${name}.yaml`), route(name));
    await writeFile(join(dir, "broken.yaml"), "a: [");
    const h = await start({ paths: [dir] }, { tuning: { snapshotPageItems: 2 } });
    const shapes = h.observations.map((o) =>
      o.events.map((e) => (e.type === "snapshot-page" ? `page:${e.items.length}` : e.type)),
    );
    assert.deepEqual(shapes, [
      ["snapshot-begin", "page:2"],
      ["page:2"],
      ["page:1"],
      ["snapshot-end", "problem"],
    ]);
    assert.deepEqual(
      h.observations.map((o) => o.cursors !== undefined),
      [false, false, false, true],
    );
    const items = h.events().flatMap((e) => (e.type === "snapshot-page" ? e.items : []));
    assert.deepEqual(
      items.map((i) => i.ref.name),
      ["a", "b", "c", "d", "e"],
    );
    // Ingest gets plain items: the object parsed, not the text the source keeps.
    for (const item of items) {
      assert.ok(Object.keys(item).includes("object"));
      assert.equal("text" in item, false);
    }
  });

  it("should read every file when the read cache is damaged", async () => {
    const dir = await workDir();
    const state = await workDir();
    await writeFile(join(dir, "a.yaml"), route("a"));
    await writeFile(join(state, "read-cache.json"), "{ not json");
    const h = await start({ paths: [dir] }, { workDir: state });
    assert.deepEqual(
      snapshotOf(h.events()).items.map((i) => i.ref.name),
      ["a"],
    );
    assert.ok(h.logs.some((l) => l.level === 40 && /read cache unusable/.test(l.msg)));
  });

  it("should not report a duplicate when a rename's new name is seen before its old one goes", async () => {
    const dir = await workDir();
    await writeFile(join(dir, "a.yaml"), route("a"));
    const clock = new FakeClock(); // the debounce never fires: the batch below is the only one
    const h = await start({ paths: [dir] }, { clock });
    await rename(join(dir, "a.yaml"), join(dir, "b.yaml"));
    // The watcher holds unlinks back (atomic-save detection): only the new name is known.
    const source = h.source as unknown as {
      dirty: Set<string>;
      enqueueBatch(trigger: string): Promise<void>;
    };
    source.dirty = new Set([join(dir, "b.yaml")]);
    await source.enqueueBatch("timer");
    const events = h.events(1);
    assert.ok(!events.some(isProblem("CRW_DUPLICATE_RESOURCE")), JSON.stringify(events));
    assert.ok(events.some(isUpsertOf("a")), "a, now from b.yaml");
  });

  it("should record a gap and take a full view when the watcher fails", async () => {
    const dir = await workDir();
    await writeFile(join(dir, "kept.yaml"), route("kept"));
    await writeFile(join(dir, "gone.yaml"), route("gone"));
    const h = await start({ paths: [dir] });
    // While the watcher is blind: one file goes away, one changes.
    await rm(join(dir, "gone.yaml"));
    await writeFile(join(dir, "kept.yaml"), route("kept", "spec: {v: 2}\n"));
    const from = h.observations.length;
    // One of the watcher's fs.watch handles fails as inotify does when its limit is reached.
    const watcher = (
      h.source as unknown as {
        watcher: { watchers: Map<string, { emit(e: string, err: Error): void }> };
      }
    ).watcher;
    const handle = [...watcher.watchers.values()][0]!;
    handle.emit("error", new Error("ENOSPC: System limit for number of file watchers reached"));
    const gap = await h.waitForEvent((e) => e.type === "gap", from, "a gap event");
    assert.ok(gap.type === "gap" && gap.detail?.includes("ENOSPC"));
    const withGap = h.observations.slice(from).find((o) => o.events.some((e) => e.type === "gap"));
    assert.equal(withGap?.events[0]?.type, "gap", "the gap comes before the changes it explains");
    const snapshot = snapshotOf(withGap?.events ?? []);
    assert.deepEqual(
      snapshot.items.map((i) => i.ref.name),
      ["kept"],
    );
  });

  describe("with a big file", () => {
    /** A ConfigMap of `keys` entries: some 100 bytes each, and slow to parse in bulk. */
    const bigConfigMap = (keys: number) =>
      `${resource("ConfigMap", "big").replace("gateway.networking.k8s.io/v1", "v1")}data:\n${Array.from(
        { length: keys },
        (_, i) => `  key-${i}: ${"v".repeat(80)}\n`,
      ).join("")}`;

    it("should record another file's edit while a big file's parse is still running", async () => {
      const dir = await workDir();
      await writeFile(join(dir, "small.yaml"), route("small", "spec: {hostnames: [a.example]}\n"));
      // The big file's parse (in the pool, for real) is held until the small edit is in,
      // so the order below does not depend on how fast this machine parses.
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const pool = sharedParsePool();
      const h = await start(
        { paths: [dir] },
        {
          tuning: {
            backgroundParseBytes: 64 * 1024,
            parse: async (request, signal) => {
              const parsed = pool.parse(request, signal);
              if (request.relPath === "big.yaml") await held;
              return parsed;
            },
          },
        },
      );
      await writeFile(join(dir, "big.yaml"), bigConfigMap(2000));
      await waitFor(() => h.logs.find((l) => l.msg === "parsing a big file in the background"));
      const from = h.observations.length;
      await writeFile(join(dir, "small.yaml"), route("small", "spec: {hostnames: [b.example]}\n"));
      await h.waitForEvent(isUpsertOf("small"), from, "upsert of small");
      assert.equal(h.events().find(isUpsertOf("big")), undefined, "big is still being parsed");
      release();
      await h.waitForEvent(isUpsertOf("big"), from, "upsert of big");
      const index = (name: string) =>
        h.observations.findIndex((o) => o.events.some(isUpsertOf(name)) && o !== h.observations[0]);
      assert.ok(index("small") < index("big"), "the small edit went first");
      const parsed = h.logs.find((l) => l.msg === "parsed" || l.msg === "slow parse");
      assert.ok(parsed && "parseMs" in parsed, "parse time is logged");
    });

    it("should stop at once while a big file parses, abandoning its parse", async () => {
      const dir = await workDir();
      await writeFile(join(dir, "small.yaml"), route("small"));
      const h = await start({ paths: [dir] }, { tuning: { backgroundParseBytes: 64 * 1024 } });
      await writeFile(join(dir, "big.yaml"), bigConfigMap(40_000));
      await waitFor(() => h.logs.find((l) => l.msg === "parsing a big file in the background"));
      await waitFor(() => sharedParsePool().stats().busy > 0, 10_000, "the parse running");
      await h.runtime.stop();
      running.splice(running.indexOf(h.runtime), 1);
      // The stop did not wait for the parse: it was abandoned, and its worker with it.
      assert.equal(sharedParsePool().stats().busy, 0);
      assert.equal(h.events().find(isUpsertOf("big")), undefined);
    });

    it("should stop during the first read of a big file without waiting for its parse", async () => {
      const dir = await workDir();
      await writeFile(join(dir, "big.yaml"), bigConfigMap(40_000));
      const h = await start({ paths: [dir] }, { ready: false });
      await waitFor(() => sharedParsePool().stats().busy > 0, 10_000, "the parse running");
      await h.runtime.stop();
      running.splice(running.indexOf(h.runtime), 1);
      assert.equal(sharedParsePool().stats().busy, 0);
      assert.deepEqual(h.observations, [], "no half view was emitted");
    });
  });
});
