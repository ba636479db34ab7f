import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { Context } from "hono";
import type { JsonSchema } from "../model/component.js";
import { badParameter } from "./errors.js";

/**
 * Request parameters are checked against JSON Schemas, and the same schemas are the
 * parameters of the OpenAPI document, so the document cannot drift from what is enforced.
 */
export interface ParamSchema {
  type: "object";
  properties: Record<string, JsonSchema & { description?: string }>;
  required?: string[];
}

const ajv = new Ajv({ coerceTypes: true, allErrors: false, useDefaults: true, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

function validatorOf(schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile({ ...schema, additionalProperties: false });
    compiled.set(schema, validate);
  }
  return validate;
}

/** The name of the parameter an ajv error is about. */
function parameterOf(error: ErrorObject, fallback: string): string {
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  if (params.missingProperty) return params.missingProperty;
  if (params.additionalProperty) return params.additionalProperty;
  const [name] = error.instancePath.split("/").slice(1);
  return name ?? fallback;
}

function describe(error: ErrorObject): string {
  if (error.keyword === "additionalProperties") return "is not a known parameter";
  if (error.keyword === "enum") {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
    return `must be one of ${allowed.join(", ")}`;
  }
  return error.message ?? "is invalid";
}

/** Validates (and coerces) a flat record of strings: a query string or path parameters. */
export function checkParams<T>(
  schema: ParamSchema,
  input: Record<string, string>,
  where = "query",
): T {
  const value: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(input)) {
    // Lists are written `type=ADDED,MODIFIED`.
    value[key] = schema.properties[key]?.type === "array" ? raw.split(",").filter(Boolean) : raw;
  }
  const validate = validatorOf(schema);
  if (!validate(value)) {
    const [error] = validate.errors ?? [];
    const parameter = error ? parameterOf(error, where) : where;
    throw badParameter(parameter, error ? describe(error) : "is invalid");
  }
  return value as T;
}

export function query<T>(c: Context, schema: ParamSchema): T {
  return checkParams<T>(schema, c.req.query());
}

export function pathParams<T>(c: Context, schema: ParamSchema): T {
  return checkParams<T>(schema, c.req.param() as Record<string, string>, "path");
}

/** A JSON body, checked against its schema; a body that is not JSON names `body`. */
export async function jsonBody<T>(c: Context, schema: JsonSchema): Promise<T> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw badParameter("body", "is not valid JSON", err);
    }
  }
  const validate = validatorOf(schema);
  if (!validate(value)) {
    const [error] = validate.errors ?? [];
    throw badParameter(
      error ? `body${error.instancePath.replaceAll("/", ".")}` : "body",
      error ? describe(error) : "is invalid",
    );
  }
  return value as T;
}
