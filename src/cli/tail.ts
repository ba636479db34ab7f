import type { Command } from "commander";
import { readEvents } from "../api/sse.js";
import { renderChange } from "../core/render-change.js";
import type { Change } from "../model/change.js";
import { CrwatchError, errorMessage } from "../model/errors.js";
import { parsePositiveInt } from "./common.js";

interface TailFlags {
  url: string;
  token?: string;
  since?: string;
  type?: string;
  source?: string;
  ref?: string;
  output: string;
  once?: boolean;
}

export function registerTail(program: Command): void {
  program
    .command("tail")
    .description("follow the live change stream of a running `crwatch serve` (its API)")
    .option("--url <url>", "the API's address", "http://127.0.0.1:7070")
    .option("--token <token>", "API token (default: $CRWATCH_TOKEN)")
    .option("--since <seq>", "start after this seq (default: now)")
    .option("--type <types>", "comma-separated change types")
    .option("--source <name>", "one source only")
    .option("--ref <text>", "substring of the formatted ref")
    .option("--output <format>", "text or json (one change per line)", "text")
    .option("--once", "exit when the stream ends instead of reconnecting")
    .action(async (flags: TailFlags) => tail(flags));
}

async function tail(flags: TailFlags): Promise<void> {
  if (flags.output !== "text" && flags.output !== "json") {
    throw new CrwatchError("CRW_USAGE", "--output must be text or json");
  }
  const token = flags.token ?? process.env.CRWATCH_TOKEN;
  const position = {
    last: flags.since === undefined ? undefined : parsePositiveInt(flags.since, "--since"),
  };
  const color = process.stdout.isTTY === true;
  for (;;) {
    try {
      await follow(flags, token, position, (change) => {
        const line =
          flags.output === "json" ? JSON.stringify(change) : renderChange(change, { color });
        process.stdout.write(`${line}\n`);
      });
      if (flags.once) return;
    } catch (err) {
      if (err instanceof CrwatchError && err.code !== "CRW_API_STREAM") throw err;
      if (flags.once) throw err;
      process.stderr.write(`crwatch tail: ${errorMessage(err)}; reconnecting\n`);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** One connection: prints changes until the stream ends, keeping the last seq seen. */
async function follow(
  flags: TailFlags,
  token: string | undefined,
  position: { last: number | undefined },
  print: (change: Change) => void,
): Promise<void> {
  const url = new URL("/api/v1/watch", flags.url);
  for (const key of ["type", "source", "ref"] as const) {
    if (flags[key]) url.searchParams.set(key, flags[key] as string);
  }
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (position.last !== undefined) headers["Last-Event-ID"] = String(position.last);
  let res: Response;
  try {
    res = await fetch(url, { headers });
  } catch (err) {
    throw new CrwatchError("CRW_API_STREAM", `cannot reach ${url.origin}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (!res.ok || !res.body) {
    const body = (await res.json().catch(() => ({}))) as {
      error?: { code?: string; message?: string };
    };
    const code = body.error?.code === "CRW_API_UNAUTHORIZED" ? "CRW_API_UNAUTHORIZED" : "CRW_USAGE";
    throw new CrwatchError(code, `${res.status}: ${body.error?.message ?? res.statusText}`);
  }
  try {
    for await (const event of readEvents(res.body)) {
      if (event.event !== "change") continue;
      print(JSON.parse(event.data) as Change);
      position.last = Number(event.id);
    }
  } catch (err) {
    throw new CrwatchError("CRW_API_STREAM", `the stream was cut: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}
