import { open, stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { sha256Hex } from "../../core/stable-json.js";
import { fileTooLarge } from "../../formats/documents.js";
import type { ParseFileRequest, TimedParse } from "../../formats/parse-file.js";
import { sharedParsePool } from "../../formats/parse-pool.js";
import type { ObservedObject, SourceProblem } from "../../model/observation.js";
import { errnoOf } from "./scan.js";

export interface ReadRequest {
  source: string;
  absPath: string;
  relPath: string;
  maxBytes: number;
  maxExpandedNodes?: number;
  /** Stops a parse nobody will wait for (the source is stopping): the read rejects. */
  signal?: AbortSignal;
  /** How the bytes are parsed; default: the process's parse pool, off the event loop. */
  parse?: (request: ParseFileRequest, signal?: AbortSignal) => Promise<TimedParse>;
}

export type ReadOutcome =
  /** The file was read; `problems` are about single documents (not a mapping), the rest stands. */
  | {
      status: "read";
      items: ObservedObject[];
      problems: SourceProblem[];
      contentHash: string;
      parseMs?: number;
    }
  /** Nothing could be taken from the file; what it held before must be kept. */
  | { status: "unreadable"; problems: SourceProblem[]; parseMs?: number }
  /** The file is no longer there: whatever it held is gone with it. */
  | { status: "gone" };

/** An atomic save replaces a file in two steps; a read can fall between them. */
const VANISH_RETRIES = 3;
const VANISH_RETRY_DELAY_MS = 25;

/**
 * Reads one file into resources. A file missing when opened is gone if it is still absent
 * when looked at again (a plain delete after the listing); if it is there again it was being
 * replaced, so it is read again, and only a file that keeps slipping away is reported as
 * CRW_FILE_VANISHED.
 */
export async function readResourceFile(request: ReadRequest): Promise<ReadOutcome> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await readOnce(request);
    } catch (err) {
      if (request.signal?.aborted) throw err;
      const errno = errnoOf(err);
      if (errno !== "ENOENT") return unreadable(request.absPath, errno, err);
      if (!(await exists(request.absPath))) return { status: "gone" };
      if (attempt >= VANISH_RETRIES) return vanished(request.absPath, attempt + 1);
      await sleep(VANISH_RETRY_DELAY_MS);
    }
  }
}

async function readOnce(request: ReadRequest): Promise<ReadOutcome> {
  const { source, absPath, relPath, maxBytes, maxExpandedNodes } = request;
  const handle = await open(absPath, "r");
  let bytes: Buffer;
  try {
    const st = await handle.stat();
    if (st.size > maxBytes) {
      // Hashing a file we refuse to read would read it: its size and time identify this state.
      const fingerprint = `${sha256Hex(`${st.size}:${st.mtimeMs}`)}:CRW_FILE_TOO_LARGE`;
      return {
        status: "unreadable",
        problems: [fileTooLarge(absPath, st.size, maxBytes, fingerprint)],
      };
    }
    bytes = await handle.readFile();
  } finally {
    await handle.close();
  }
  // The file is closed before the parse: a big one may take a while, in a worker.
  const parse = request.parse ?? ((r, signal) => sharedParsePool().parse(r, signal));
  const parsed = await parse(
    {
      bytes,
      source,
      location: absPath,
      relPath,
      maxBytes,
      ...(maxExpandedNodes !== undefined && { maxExpandedNodes }),
    },
    request.signal,
  );
  const { parseMs } = parsed;
  if (parsed.status === "unreadable") {
    return { status: "unreadable", problems: parsed.problems, parseMs };
  }
  const { items, problems, contentHash } = parsed;
  return { status: "read", items, problems, contentHash, parseMs };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function unreadable(path: string, errno: string | undefined, err: unknown): ReadOutcome {
  const code = errno ?? (err instanceof Error ? err.name : "unknown error");
  return {
    status: "unreadable",
    problems: [
      {
        code: "CRW_FILE_UNREADABLE",
        message: `${path} could not be read (${code}); what it held is kept`,
        location: { path },
        fingerprint: `${sha256Hex(`${path}\0${code}`)}:CRW_FILE_UNREADABLE`,
      },
    ],
  };
}

function vanished(path: string, attempts: number): ReadOutcome {
  return {
    status: "unreadable",
    problems: [
      {
        code: "CRW_FILE_VANISHED",
        message: `${path} disappeared each time it was opened (${attempts} tries) although it is listed; what it held is kept`,
        location: { path },
        fingerprint: `${sha256Hex(path)}:CRW_FILE_VANISHED`,
      },
    ],
  };
}
