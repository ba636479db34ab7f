import { parentPort } from "node:worker_threads";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import { type DecodeStream, decodeEvents, decodeList } from "./decode.js";
import { type DecodeAnswer, encodeEvents, encodeList } from "./decode-wire.js";

/** What the source's thread sends: a list page's body (moved, not copied) or watch lines. */
export type DecodeTask =
  | { id: number; op: "list"; stream: DecodeStream; path: string; body: Uint8Array }
  | { id: number; op: "events"; stream: DecodeStream; lines: string[] };

const utf8 = new TextDecoder();

/** Decodes one task: the same functions as on the source's thread, answered as text (decode-wire.ts). */
export function answer(task: DecodeTask): DecodeAnswer {
  try {
    if (task.op === "events") return encodeEvents(task.id, decodeEvents(task.stream, task.lines));
    return encodeList(task.id, decodeList(task.stream, task.path, utf8.decode(task.body)));
  } catch (err) {
    if (
      err instanceof CrwatchError &&
      (err.code === "CRW_K8S_HTTP" || err.code === "CRW_K8S_STREAM")
    )
      return { id: task.id, error: { code: err.code, message: err.message } };
    return { id: task.id, error: { code: "CRW_K8S_STREAM", message: errorMessage(err) } };
  }
}

// The entry of the decode worker (decoder.ts starts it): tasks are answered in order.
parentPort?.on("message", (task: DecodeTask) => {
  parentPort?.postMessage(answer(task));
});
