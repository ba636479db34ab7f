import { CrwatchError } from "../../model/errors.js";

/**
 * A tiny mustache subset for message templates: `{{name}}` inserts a value (escaped by the
 * caller's `escape`), `{{#name}}…{{/name}}` keeps its text when the value is non-empty,
 * `{{^name}}…{{/name}}` when it is empty. No loops, partials or code: a template is data a
 * user writes in crwatch.yaml, and this is all a one-line chat message needs.
 */
export type TemplateView = Record<string, string>;

const TAG = /\{\{([#^/]?)\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;

export function renderTemplate(
  template: string,
  view: TemplateView,
  escapeValue: (s: string) => string,
): string {
  return renderSection(template, view, escapeValue);
}

function renderSection(
  text: string,
  view: TemplateView,
  escapeValue: (s: string) => string,
): string {
  let out = "";
  let at = 0;
  // One regex per level: a nested section must not move the outer loop's position.
  const tag = new RegExp(TAG.source, "g");
  for (let m = tag.exec(text); m !== null; m = tag.exec(text)) {
    out += text.slice(at, m.index);
    const [whole, sigil, name] = m as unknown as [string, string, string];
    if (sigil === "") {
      out += escapeValue(view[name] ?? "");
      at = m.index + whole.length;
      continue;
    }
    const close = `{{/${name}}}`;
    const end = text.indexOf(close, m.index + whole.length);
    const inner = text.slice(m.index + whole.length, end);
    const present = (view[name] ?? "") !== "";
    if (present === (sigil === "#")) out += renderSection(inner, view, escapeValue);
    at = end + close.length;
    tag.lastIndex = at;
  }
  return out + text.slice(at);
}

/** Checks a template once, at startup: balanced sections, known names only. */
export function checkTemplate(template: string, names: readonly string[]): void {
  const open: string[] = [];
  for (const m of template.matchAll(TAG)) {
    const [, sigil, name] = m as unknown as [string, string, string];
    if (!names.includes(name)) fail(`{{${sigil}${name}}} is not one of ${names.join(", ")}`);
    if (sigil === "#" || sigil === "^") open.push(name);
    if (sigil === "/" && open.pop() !== name) fail(`{{/${name}}} closes no open section`);
  }
  if (open.length > 0) fail(`{{#${open[open.length - 1]}}} is never closed`);
}

function fail(message: string): never {
  throw new CrwatchError("CRW_SINK_CONFIG", `slack template: ${message}`);
}
