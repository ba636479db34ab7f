import type { DecodedEvent, DecodedItem, DecodedList, DecodeError } from "./decode.js";

/**
 * How decoded pages and watch lines cross back from the decode worker: each object's JSON
 * text as its own string, everything else as one JSON text. Structured clone of the small
 * fields costs several times their JSON (measured for the parse pool, decision 0033), and
 * the object texts cross as plain string copies, never as object trees.
 */
export interface DecodeReply {
  id: number;
  meta: string;
  texts: string[];
}

export type DecodeAnswer = DecodeReply | { id: number; error: DecodeError };

type Slim<T> = T extends { item: DecodedItem }
  ? Omit<T, "item"> & { item: DecodedItem["fields"] }
  : T;
interface SlimList extends Omit<DecodedList, "items"> {
  items: DecodedItem["fields"][];
}

export function encodeList(id: number, list: DecodedList): DecodeReply {
  const texts = list.items.map((item) => item.text);
  const slim: SlimList = { ...list, items: list.items.map((item) => item.fields) };
  return { id, meta: JSON.stringify(slim), texts };
}

export function decodeListReply(reply: DecodeReply): DecodedList {
  const slim = JSON.parse(reply.meta) as SlimList;
  return {
    ...slim,
    items: slim.items.map((fields, i) => ({ fields, text: reply.texts[i] as string })),
  };
}

export function encodeEvents(id: number, events: readonly DecodedEvent[]): DecodeReply {
  const texts: string[] = [];
  const slim = events.map((event): Slim<DecodedEvent> => {
    if (!("item" in event)) return event;
    texts.push(event.item.text);
    return { ...event, item: event.item.fields };
  });
  return { id, meta: JSON.stringify(slim), texts };
}

export function decodeEventsReply(reply: DecodeReply): DecodedEvent[] {
  let next = 0;
  return (JSON.parse(reply.meta) as Slim<DecodedEvent>[]).map((event): DecodedEvent => {
    if (!("item" in event)) return event;
    return { ...event, item: { fields: event.item, text: reply.texts[next++] as string } };
  });
}
