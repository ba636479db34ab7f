/** The host of a URL or `host:port` text, lower-case; undefined when there is none. */
export function hostOf(text: string): string | undefined {
  const trimmed = text.trim();
  if (!trimmed || trimmed.startsWith("os.environ/")) return undefined;
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed))
      return new URL(trimmed).hostname.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
  const host = trimmed
    .replace(/^\[|\](:\d+)?$/g, "")
    .replace(/:\d+$/, "")
    .split("/")[0];
  return host ? host.toLowerCase() : undefined;
}
