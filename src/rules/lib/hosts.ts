/** The host of a URL or `host:port` text, lower-case; undefined when there is none. */
export function hostOf(text: string): string | undefined {
  const trimmed = text.trim();
  // LiteLLM's `os.environ/NAME` is a reference to a variable, not a host.
  if (!trimmed || trimmed.startsWith("os.environ/")) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    try {
      return new URL(trimmed).hostname.toLowerCase().replace(/^\[|\]$/g, "") || undefined;
    } catch {
      return undefined;
    }
  }
  const bracketed = /^\[([^\]]+)\]/.exec(trimmed);
  if (bracketed) return bracketed[1]?.toLowerCase();
  const host = trimmed.split("/")[0]?.replace(/:\d+$/, "");
  return host ? host.toLowerCase() : undefined;
}
