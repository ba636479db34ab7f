import { parentPort } from "node:worker_threads";
import { errorMessage } from "../model/errors.js";
import { type ParseFileRequest, parseFile, type TimedParse } from "./parse-file.js";

/** What the pool sends a worker: one file at a time. */
export interface WorkerTask {
  id: number;
  request: ParseFileRequest;
}

export type WorkerReply = { id: number; result: TimedParse } | { id: number; error: string };

// The entry of a parse worker (parse-pool.ts starts it): the same parseFile as inline.
parentPort?.on("message", (task: WorkerTask) => {
  let reply: WorkerReply;
  try {
    reply = { id: task.id, result: parseFile(task.request) };
  } catch (err) {
    reply = { id: task.id, error: errorMessage(err) };
  }
  parentPort?.postMessage(reply);
});
