import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Logger } from "pino";
import { CrwatchError, type ErrorCode } from "../model/errors.js";

/** An error answered with a status, a stable code and, for a bad input, the parameter's name. */
export class ApiError extends CrwatchError {
  readonly status: ContentfulStatusCode;
  readonly parameter: string | undefined;

  constructor(
    status: ContentfulStatusCode,
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; parameter?: string },
  ) {
    super(code, message, options);
    this.status = status;
    this.parameter = options?.parameter;
  }
}

export function badParameter(parameter: string, message: string, cause?: unknown): ApiError {
  return new ApiError(400, "CRW_API_BAD_PARAMETER", `${parameter}: ${message}`, {
    parameter,
    cause,
  });
}

export function notFound(message: string): ApiError {
  return new ApiError(404, "CRW_API_NOT_FOUND", message);
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; parameter?: string };
}

export function errorBody(code: ErrorCode, message: string, parameter?: string): ErrorBody {
  return { error: { code, message, ...(parameter ? { parameter } : {}) } };
}

/** Hono's onError: API errors as they are; anything else is logged and answered 500. */
export function errorHandler(log: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof ApiError) {
      if (err.status === 401) c.header("WWW-Authenticate", 'Bearer realm="crwatch"');
      return c.json(errorBody(err.code, err.message, err.parameter), err.status);
    }
    if (err instanceof CrwatchError && err.code === "CRW_STORE_NOT_FOUND") {
      return c.json(errorBody("CRW_API_NOT_FOUND", err.message), 404);
    }
    log.error({ err, method: c.req.method, path: c.req.path }, "request failed");
    return c.json(errorBody("CRW_API_INTERNAL", "internal error; see the crwatch log"), 500);
  };
}

export function notFoundHandler(c: Context) {
  return c.json(errorBody("CRW_API_NOT_FOUND", `no route ${c.req.method} ${c.req.path}`), 404);
}
