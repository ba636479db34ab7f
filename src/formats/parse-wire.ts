import { type ObservedObject, observedText } from "../model/observation.js";
import type { TimedParse } from "./parse-file.js";

/** A parse worker's answer for one file. */
export type WorkerReply = { id: number; result: TimedParse } | { id: number; error: string };

/**
 * How parse replies cross back from a parse worker when JSON carries them exactly: each
 * object as its own JSON text, the rest of the replies as one JSON text. The pool's thread
 * parses only the small part; each object stays text (`observedText`) until something reads
 * it, and ingest hands that text to where the object is built (decision 0033): the ingest
 * thread neither parses nor serializes it when build workers run.
 */
export interface TextAnswer {
  meta: string;
  texts: string[];
}

type SlimItem = Omit<ObservedObject, "object" | "json">;

export function encodeTextAnswer(replies: readonly WorkerReply[]): TextAnswer {
  const texts: string[] = [];
  const slim = replies.map((reply) => {
    if (!("result" in reply) || reply.result.status !== "read") return reply;
    const items = reply.result.items.map(({ object, json: _json, ...fields }): SlimItem => {
      texts.push(JSON.stringify(object));
      return fields;
    });
    return { ...reply, result: { ...reply.result, items } };
  });
  return { meta: JSON.stringify(slim), texts };
}

export function decodeTextAnswer(answer: TextAnswer): WorkerReply[] {
  let next = 0;
  const replies = JSON.parse(answer.meta) as WorkerReply[];
  for (const reply of replies) {
    if (!("result" in reply) || reply.result.status !== "read") continue;
    const slim = reply.result.items as SlimItem[];
    reply.result.items = slim.map((fields) => observedText(answer.texts[next++] as string, fields));
  }
  return replies;
}
