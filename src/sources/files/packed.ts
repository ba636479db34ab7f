import type { JsonObject } from "../../model/json.js";
import {
  fieldsOf,
  type ObservationEvent,
  type ObservedObject,
  observedText,
} from "../../model/observation.js";
import { refKey } from "../../model/ref.js";

/**
 * An item the files source remembers between reads, with its object held as JSON text.
 * The source needs the objects only to emit them (a snapshot, the items of a file that
 * changed); the parsed trees of every file, kept for that, were a second copy of the tree
 * in memory: some 20 KiB of heap for a 6 KiB manifest, against 2–4 KiB of text. `object`
 * parses the text at each read (never kept); emit `unpack`s each item once.
 */
export type PackedItem = ObservedObject & { readonly text: string; readonly [REF_KEY]: string };

/**
 * The item's refKey, made once: the view is worked out again for every batch, and 10,000
 * files must not mean 10,000 new key strings per edit (garbage a small young generation
 * feels: decision 0029).
 */
export const REF_KEY = Symbol("refKey");

/** refKey of an item, from the packed item when it is one. */
export function itemKey(item: ObservedObject): string {
  return (item as Partial<PackedItem>)[REF_KEY] ?? refKey(item.ref);
}

/**
 * The item with its object as text (an item already packed is returned as is; one a parse
 * worker sent as text keeps that text, unparsed).
 */
export function pack(item: ObservedObject): PackedItem {
  if (isPacked(item)) return item;
  if (item.json !== undefined) return packedOf(fieldsOf(item), item.json);
  const { object, ...rest } = item;
  return packedOf(rest, JSON.stringify(object));
}

/** An item as the read cache stores it: its fields, the object as text. */
export interface StoredItem extends Omit<ObservedObject, "object"> {
  text: string;
}

export function fromStored(stored: StoredItem): PackedItem {
  const { text, ...rest } = stored;
  return packedOf(rest, text);
}

/** Where lazy items' texts are read from (the read cache's texts file). */
export interface TextSource {
  read(offset: number, length: number): string;
}

/**
 * A packed item whose text stays where it is (the read cache's texts file) and is read at
 * each read of `text` or `object`, never kept: a restart holds every file's items without
 * their objects (decision 0037). A class, so its getters live on one prototype: no
 * closures nor property definitions per item (100k items at a restart).
 */
class LazyPackedItem {
  readonly #texts: TextSource;
  readonly #offset: number;
  readonly #length: number;
  #key: string | undefined;

  constructor(
    rest: Omit<ObservedObject, "object">,
    texts: TextSource,
    offset: number,
    length: number,
  ) {
    Object.assign(this, rest);
    this.#texts = texts;
    this.#offset = offset;
    this.#length = length;
  }

  get text(): string {
    return this.#texts.read(this.#offset, this.#length);
  }

  get object(): JsonObject {
    return JSON.parse(this.text) as JsonObject;
  }

  get [REF_KEY](): string {
    this.#key ??= refKey((this as unknown as ObservedObject).ref);
    return this.#key;
  }
}

export function lazyPacked(
  rest: Omit<ObservedObject, "object">,
  texts: TextSource,
  offset: number,
  length: number,
): PackedItem {
  return new LazyPackedItem(rest, texts, offset, length) as unknown as PackedItem;
}

export function toStored(item: ObservedObject): StoredItem {
  // `object` is not enumerable: the rest holds the other fields, unparsed.
  const { text, ...rest } = pack(item);
  return { ...rest, text };
}

/**
 * What ingest is given: the item as JSON text (`observedText`), parsed where ingest builds it
 * (a build worker, decision 0033) or on first read.
 */
export function unpack(item: ObservedObject): ObservedObject {
  if (!isPacked(item)) return item;
  const { text, ...rest } = item;
  return observedText(text, rest);
}

/** The events with every item unpacked (a snapshot page at a time, as it is emitted). */
export function unpackEvents(events: ObservationEvent[]): ObservationEvent[] {
  return events.map((event) => {
    switch (event.type) {
      case "upsert":
        return { ...event, item: unpack(event.item) };
      case "snapshot":
      case "snapshot-page":
        return { ...event, items: event.items.map(unpack) };
      default:
        return event;
    }
  });
}

function isPacked(item: ObservedObject): item is PackedItem {
  // The key, not `text`: reading a lazy item's text would load it.
  return (item as Partial<PackedItem>)[REF_KEY] !== undefined;
}

function packedOf(rest: Omit<ObservedObject, "object">, text: string): PackedItem {
  const item = { ...rest, text } as PackedItem;
  // Not enumerable: spreading or serializing a packed item must not parse it (nor copy
  // the key).
  Object.defineProperty(item, "object", {
    get: () => JSON.parse(text) as JsonObject,
    enumerable: false,
  });
  Object.defineProperty(item, REF_KEY, { value: refKey(rest.ref), enumerable: false });
  return item;
}
