import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (tests run from dist/test/, compiled). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * ../shared beside the checkout (or beside the folder holding it, for a worktree one level
 * down): fixtures and vectors are read from there, never copied.
 */
export const sharedDir = process.env.CRWATCH_SHARED_DIR ?? findShared();

function findShared(): string {
  const near = resolve(repoRoot, "..", "shared");
  const far = resolve(repoRoot, "..", "..", "shared");
  return existsSync(near) || !existsSync(far) ? near : far;
}

/** The built CLI entry point. */
export const cliPath = join(repoRoot, "dist", "src", "cli", "main.js");

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(
  prefix = "crwatch-test-",
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The PostgreSQL server the tests use (each test works in its own schema). */
export const postgresUrl =
  process.env.CRWATCH_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
