import { createHmac, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CrwatchConfig } from "../config/schema.js";
import type { NewChange } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import { noticeRef } from "../model/ref.js";
import type { Store } from "../store/store.js";

/**
 * The key behind secret masks, from (in order) the config or CRWATCH_MASK_KEY, a key file
 * (`maskKeyFile` or CRWATCH_MASK_KEY_FILE), or a key kept in the data directory of a local
 * store (created on first use). A store on a database server has no data directory: it
 * needs one of the first two. Anyone with the key can test guesses of a secret, so a
 * created key file is 0600.
 */
export async function loadMaskKey(config: CrwatchConfig, local: boolean): Promise<Buffer> {
  if (config.maskKey) return Buffer.from(config.maskKey, "utf8");
  if (config.maskKeyFile) return readKeyFile(config.maskKeyFile);
  if (!local) {
    throw new CrwatchError(
      "CRW_MASK_KEY",
      "this store has no data directory for a mask key: set maskKey, maskKeyFile, CRWATCH_MASK_KEY or CRWATCH_MASK_KEY_FILE",
    );
  }
  return dataDirKey(config.store.path);
}

async function readKeyFile(path: string): Promise<Buffer> {
  try {
    const text = (await readFile(path, "utf8")).trim();
    if (text.length < 16) throw new Error("the key must be at least 16 characters");
    return Buffer.from(text, "utf8");
  } catch (err) {
    throw new CrwatchError("CRW_MASK_KEY", `cannot read the mask key file ${path}`, { cause: err });
  }
}

async function dataDirKey(dir: string): Promise<Buffer> {
  const path = join(dir, "mask.key");
  try {
    return Buffer.from((await readFile(path, "utf8")).trim(), "hex");
  } catch {
    await mkdir(dir, { recursive: true });
    const key = randomBytes(32);
    // `wx`: when two processes race, the first key written wins and both read it back.
    await writeFile(path, `${key.toString("hex")}\n`, { mode: 0o600, flag: "wx" }).catch(
      () => undefined,
    );
    await chmod(path, 0o600).catch(() => undefined);
    return Buffer.from((await readFile(path, "utf8")).trim(), "hex");
  }
}

const FINGERPRINT_KEY = "mask_key_fingerprint";

/** Says which key this is without saying anything about it (an HMAC of a fixed label). */
export function maskKeyFingerprint(key: Buffer): string {
  return createHmac("sha256", key)
    .update("crwatch mask key fingerprint")
    .digest("hex")
    .slice(0, 16);
}

/**
 * The key before a rotation, when one is configured: `maskKeyPrevious`
 * (CRWATCH_MASK_KEY_PREVIOUS), `maskKeyPreviousFile` (CRWATCH_MASK_KEY_PREVIOUS_FILE), or,
 * for a local store, `<data dir>/mask.key.previous` (a generated `mask.key` moved aside).
 */
export async function loadPreviousMaskKey(
  config: CrwatchConfig,
  local: boolean,
): Promise<Buffer | undefined> {
  if (config.maskKeyPrevious) return Buffer.from(config.maskKeyPrevious, "utf8");
  if (config.maskKeyPreviousFile) return readKeyFile(config.maskKeyPreviousFile);
  if (!local) return undefined;
  const text = await readFile(join(config.store.path, "mask.key.previous"), "utf8").catch(
    () => undefined,
  );
  return text === undefined ? undefined : Buffer.from(text.trim(), "hex");
}

/** How the configured key stands to the store's: `rotated` means this start rotated it. */
export type MaskKeyStanding = "first" | "same" | "rotated";

/**
 * A different key would change every mask, so the next full view would record every object
 * holding a secret as MODIFIED: a flood of false changes. The store remembers the key's
 * fingerprint; a mismatch stops the start with a message that says what happened.
 *
 * A rotation on purpose names the old key as the previous one: when the store was written
 * with it, one GAP entry (CRW_MASK_KEY_ROTATED) and the new fingerprint are committed
 * together, and ingest re-masks each head whose content is unchanged under the old key
 * (docs/decisions/0028).
 */
export async function checkMaskKey(
  store: Store,
  key: Buffer,
  previous?: Buffer,
  now: Date = new Date(),
): Promise<MaskKeyStanding> {
  const fingerprint = maskKeyFingerprint(key);
  const known = await store.getMeta(FINGERPRINT_KEY);
  if (known === undefined) {
    await store.setMeta(FINGERPRINT_KEY, fingerprint);
    return "first";
  }
  if (known === fingerprint) return "same";
  const previousFingerprint = previous && maskKeyFingerprint(previous);
  if (known === previousFingerprint) {
    await store.commit({
      changes: [rotationNotice(previousFingerprint, fingerprint, now)],
      cursors: [],
      resolvedProblems: [],
      meta: [{ key: FINGERPRINT_KEY, value: fingerprint }],
    });
    return "rotated";
  }
  throw new CrwatchError(
    "CRW_MASK_KEY_MISMATCH",
    previousFingerprint
      ? `neither the mask key (fingerprint ${fingerprint}) nor the previous key (${previousFingerprint}) ` +
          `is the one this store was written with (${known}): set the previous key to the store's key to rotate`
      : `the mask key (fingerprint ${fingerprint}) is not the one this store was written with (${known}). ` +
          "Restore the original key (maskKey, maskKeyFile, CRWATCH_MASK_KEY or <data dir>/mask.key), " +
          "or rotate it on purpose: name the old key as maskKeyPrevious (CRWATCH_MASK_KEY_PREVIOUS)",
  );
}

function rotationNotice(from: string, to: string, now: Date): NewChange {
  return {
    type: "GAP",
    ref: noticeRef("crwatch", "mask key"),
    revision: null,
    previousRevision: null,
    actor: null,
    cause: null,
    location: null,
    observedAt: now.toISOString(),
    patch: [],
    summary: [],
    findings: [],
    notice: {
      code: "CRW_MASK_KEY_ROTATED",
      message:
        `the mask key was rotated (fingerprint ${from} → ${to}); masks from here on use the new key. ` +
        "Objects whose secrets did not change are re-masked without a change; a secret that changed is MODIFIED",
    },
    object: null,
    contentHash: null,
  };
}
