import { readFileSync } from "node:fs";
import { Hono } from "hono";
import type { ApiEnv } from "./auth.js";

const UI_DIR = new URL("../ui/", import.meta.url);
const FILES: Record<string, string> = {
  "/": "index.html",
  "/ui/app.js": "app.js",
  "/ui/style.css": "style.css",
};
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/**
 * The web page and its two assets, copied next to the compiled API by `npm run build`.
 * They hold no data (every figure comes from the API with the user's token), so they are
 * served without one: the page is where the token is entered.
 */
export function uiRoutes(): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  for (const [path, file] of Object.entries(FILES)) {
    let body: string | undefined;
    app.get(path, (c) => {
      body ??= readFileSync(new URL(file, UI_DIR), "utf8");
      const type = TYPES[file.split(".").pop() ?? ""] ?? "text/plain";
      return c.body(body, 200, {
        "Content-Type": type,
        "Cache-Control": "no-cache",
        "Content-Security-Policy":
          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
        "X-Content-Type-Options": "nosniff",
      });
    });
  }
  return app;
}
