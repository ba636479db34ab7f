import { parentPort } from "node:worker_threads";
import { errorMessage } from "../model/errors.js";
import { type ParseFileRequest, parseFile, type TimedParse } from "./parse-file.js";

/** One file of what the pool sends a worker (a message holds one or several). */
export interface WorkerTask {
  id: number;
  request: ParseFileRequest;
}

export type WorkerReply = { id: number; result: TimedParse } | { id: number; error: string };

// The entry of a parse worker (parse-pool.ts starts it): the same parseFile as inline. A
// message's files are answered together, in one message.
parentPort?.on("message", (tasks: WorkerTask[]) => {
  const replies = tasks.map((task): WorkerReply => {
    try {
      return { id: task.id, result: parseFile(task.request) };
    } catch (err) {
      return { id: task.id, error: errorMessage(err) };
    }
  });
  parentPort?.postMessage(replies);
});
