/**
 * Finds a list page's items in its JSON text without parsing it: the page with its `items`
 * array emptied (`rest`, for its metadata) and each item's own text. Parsing each item's
 * text gives what parsing the page gives, and the text can go on as it is, so the decode
 * worker never serializes an object again (that cost as much as the parse, decision 0034).
 *
 * Undefined whenever the text is not the plain shape `{…, "items": [ {…}, {…} ], …}` at the
 * top (an escaped key, an item that is not an object, a page cut short): the caller then
 * parses the page whole, which also reports whatever is wrong with it. Each part found is
 * parsed by the caller, so text that is not JSON never passes as items.
 */
export function splitItems(body: string): { rest: string; items: string[] } | undefined {
  const span = memberSpan(body, "items");
  if (!span || body.charCodeAt(span.start) !== OPEN_ARRAY) return undefined;
  const items: string[] = [];
  let i = skipSpace(body, span.start + 1);
  if (body.charCodeAt(i) !== CLOSE_ARRAY) {
    for (;;) {
      if (body.charCodeAt(i) !== OPEN_OBJECT) return undefined;
      const end = valueEnd(body, i);
      if (end < 0) return undefined;
      items.push(body.slice(i, end));
      i = skipSpace(body, end);
      const next = body.charCodeAt(i);
      if (next === CLOSE_ARRAY) break;
      if (next !== COMMA) return undefined;
      i = skipSpace(body, i + 1);
    }
  }
  return { rest: `${body.slice(0, span.start)}[]${body.slice(span.end)}`, items };
}

/**
 * The text of a watch line's `object` member (`{"type":…,"object":{…}}`), so an event's
 * object can go on as the API server wrote it; undefined when the line is not that plain
 * shape (the caller then serializes the parsed object).
 */
export function objectMemberText(line: string): string | undefined {
  const span = memberSpan(line, "object");
  if (!span || line.charCodeAt(span.start) !== OPEN_OBJECT) return undefined;
  return line.slice(span.start, span.end);
}

/**
 * Where the value of the top-level member `key` lies in a JSON object's text. Undefined
 * when the text is not an object whose keys are plain (unescaped) strings, when `key` is
 * absent, or when it comes twice (JSON.parse would take the last one).
 */
function memberSpan(body: string, key: string): { start: number; end: number } | undefined {
  let i = skipSpace(body, 0);
  if (body.charCodeAt(i) !== OPEN_OBJECT) return undefined;
  let found: { start: number; end: number } | undefined;
  i = skipSpace(body, i + 1);
  if (body.charCodeAt(i) === CLOSE_OBJECT) return undefined;
  for (;;) {
    if (body.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = stringEnd(body, i);
    if (keyEnd < 0) return undefined;
    const name = body.slice(i + 1, keyEnd);
    if (name.includes("\\")) return undefined; // an escaped key might spell `key`
    i = skipSpace(body, keyEnd + 1);
    if (body.charCodeAt(i) !== COLON) return undefined;
    i = skipSpace(body, i + 1);
    const end = valueEnd(body, i);
    if (end < 0) return undefined;
    if (name === key) {
      if (found) return undefined;
      found = { start: i, end };
    }
    i = skipSpace(body, end);
    const next = body.charCodeAt(i);
    if (next === CLOSE_OBJECT) return found;
    if (next !== COMMA) return undefined;
    i = skipSpace(body, i + 1);
  }
}

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

function skipSpace(text: string, from: number): number {
  let i = from;
  for (;;) {
    const c = text.charCodeAt(i);
    // JSON's whitespace: space, tab, line feed, carriage return.
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return i;
    i++;
  }
}

/** The index of the quote that closes the string opening at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let i = start;
  for (;;) {
    i = text.indexOf('"', i + 1);
    if (i < 0) return -1;
    // Escaped when preceded by an odd number of backslashes.
    let backslashes = 0;
    while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return i;
  }
}

/**
 * The index just past the value starting at `start`: an object or array by its brackets
 * (strings inside skipped whole), a string by its closing quote, anything else (number,
 * literal) up to the next delimiter. -1 when the text ends first. Not a validator: the
 * caller parses what this delimits.
 */
function valueEnd(text: string, start: number): number {
  const first = text.charCodeAt(start);
  if (first === QUOTE) {
    const end = stringEnd(text, start);
    return end < 0 ? -1 : end + 1;
  }
  if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) {
    let i = start;
    for (let c = text.charCodeAt(i); i < text.length; c = text.charCodeAt(++i)) {
      if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || c <= 0x20) break;
    }
    return i > start ? i : -1;
  }
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      if (i < 0) return -1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
