import { isatty } from "node:tty";
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
export const LOG_LEVELS: LogLevel[] = [
  "trace",
  "debug",
  "info",
  "warn",
  "error",
  "fatal",
  "silent",
];

/**
 * Logs go to stderr (fd 2), so stdout stays for changes (console and JSON-lines sinks,
 * pipes): readable on a terminal, JSON otherwise (for log shippers). Writes are
 * synchronous so the last lines before an exit are not lost.
 */
export function createLogger(level: LogLevel = "info", fd = 2): Logger {
  if (isatty(fd)) {
    return pino(
      { level },
      pretty({ destination: fd, sync: true, colorize: true, ignore: "pid,hostname" }),
    );
  }
  return pino({ level, base: undefined }, pino.destination({ fd, sync: true }));
}
