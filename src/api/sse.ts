/** One Server-Sent Event as a client sees it. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Parses one event block (the lines between blank lines); comments and retry are skipped. */
export function parseEvent(block: string): SseEvent | undefined {
  const event: SseEvent = { event: "message", data: "" };
  let hasData = false;
  for (const line of block.split(/\r?\n/)) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.event = value;
    else if (field === "id") event.id = value;
    else if (field === "data") {
      event.data = hasData ? `${event.data}\n${value}` : value;
      hasData = true;
    }
  }
  return hasData ? event : undefined;
}

/** The events of an SSE body, in order, until it ends (a cut stream throws). */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut = buffer.search(/\r?\n\r?\n/);
      while (cut !== -1) {
        const event = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        if (event) yield event;
        cut = buffer.search(/\r?\n\r?\n/);
      }
    }
  } finally {
    reader.releaseLock();
  }
}
