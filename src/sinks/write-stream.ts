const guarded = new WeakSet<NodeJS.WritableStream>();

/**
 * Writes text and resolves when the stream has taken it (so delivery really happened).
 * A write error (EPIPE when the reader of stdout went away) rejects, so the dispatcher
 * retries and dead-letters as for any sink; without a listener the stream's 'error' event
 * would crash the whole process.
 */
export function writeAll(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (!guarded.has(out)) {
    guarded.add(out);
    out.on("error", () => {
      // Reported through the write callback below.
    });
  }
  return new Promise((resolve, reject) => {
    out.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
