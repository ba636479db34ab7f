/**
 * Every error crwatch raises or records has a stable code from this catalogue, so logs,
 * ERROR entries and exit messages can be matched by machines and looked up by people.
 */
export const ERROR_CODES = {
  CRW_CONFIG_NOT_FOUND: "config file not found",
  CRW_CONFIG_PARSE: "config file is not valid YAML",
  CRW_CONFIG_INVALID: "config file does not match the schema",
  CRW_CONFIG_ENV: "config refers to an environment variable that is not set",
  CRW_YAML_SYNTAX: "YAML or JSON syntax error",
  CRW_YAML_ALIAS_LIMIT: "YAML uses too many aliases (possible alias bomb)",
  CRW_NOT_UTF8: "file is not valid UTF-8",
  CRW_BINARY_FILE: "file looks binary",
  CRW_FILE_TOO_LARGE: "file is larger than the configured cap",
  CRW_FILE_UNREADABLE: "file could not be read",
  CRW_FILE_VANISHED: "file was deleted while being read",
  CRW_SYMLINK_LOOP: "symbolic link loop",
  CRW_PATH_MISSING: "watched path does not exist",
  CRW_NOT_AN_OBJECT: "document is not a mapping",
  CRW_PARSE_FAILED: "the parser failed on a file (its worker crashed or ran out of memory)",
  CRW_DUPLICATE_RESOURCE: "the same resource is defined twice",
  CRW_STORE_OPEN: "store could not be opened",
  CRW_STORE_LOCKED: "another crwatch process is writing to this data directory",
  CRW_STORE_MIGRATION: "store migration failed",
  CRW_STORE_WRITE: "a write to the store failed; nothing of the batch was committed",
  CRW_STORE_CHAIN_BROKEN: "change log hash chain is broken",
  CRW_STORE_NOT_FOUND: "no such entry in the store",
  CRW_STORE_CONFLICT:
    "a commit expected a head revision that is no longer the head (a stale writer); reload and retry",
  CRW_STORE_READ_ONLY: "the store was opened read-only",
  CRW_STORE_CORRUPT: "the database file is damaged (PRAGMA quick_check failed)",
  CRW_STORE_TRUNCATED:
    "the store has lost entries it once had (its log ends before the last checkpoint)",
  CRW_MASK_KEY_MISMATCH:
    "the mask key is not the one this store was written with; masks would all change",
  CRW_MASK_KEY: "the secret-masking key could not be loaded",
  CRW_MASK_KEY_ROTATED:
    "the mask key was rotated on purpose; masks from here on use the new key (objects whose secrets did not change are re-masked without a change)",
  CRW_SINK_DELIVERY: "a sink failed to deliver",
  CRW_SINK_TIMEOUT: "a sink did not answer within its delivery timeout",
  CRW_SINK_CONFIG: "a sink's settings are invalid (a malformed secret, an unknown template field)",
  CRW_SINK_REJECTED: "a sink refused a change for good; it was dead-lettered",
  CRW_SOURCE_FAILED: "a source stopped with an error; the runtime restarts it with backoff",
  CRW_SOURCE_EMIT: "a source's observation could not be committed; it is retried",
  CRW_WATCHER_FAILED: "a file watcher failed and may have missed events; a full rescan follows",
  CRW_WATCH_EXPIRED:
    "a watch's resourceVersion expired (410 Gone); what follows is inferred from a fresh list",
  CRW_HISTORY_REWRITTEN: "a Git branch was rewritten (force-push); what follows is inferred",
  CRW_GIT_VERSION: "git is missing or older than the git source needs",
  CRW_GIT_FAILED: "a git command failed",
  CRW_GIT_REMOTE:
    "a Git remote could not be reached or refused the credentials; retried with backoff",
  CRW_GIT_UNKNOWN_COMMIT: "a configured commit (since) is not in the branch's history",
  CRW_WEBHOOK_LISTEN: "a source's webhook listener could not start",
  CRW_NOT_RUNNING:
    "crwatch was not running for an interval; changes undone within it are not recorded",
  CRW_SOURCE_DOWN: "a source could not be reached for longer than its interval",
  CRW_SNAPSHOT_INCOMPLETE:
    "a paged snapshot ended without its beginning; deletions within it were not inferred",
  CRW_UNKNOWN_KIND: "a resource kind is not served by the API",
  CRW_K8S_CONFIG: "the kubeconfig (or in-cluster account) could not be loaded",
  CRW_K8S_HTTP: "the Kubernetes API answered a request with an error status",
  CRW_K8S_STREAM: "a watch stream held a line that is not a watch event",
  CRW_K8S_AUDIT: "the Kubernetes audit receiver could not start",
  CRW_HTTP_REQUEST: "a request to a polled admin API failed (network, timeout, TLS)",
  CRW_HTTP_STATUS: "a polled admin API answered with an error status",
  CRW_HTTP_BODY: "a polled admin API answered with a body that is not the expected list",
  CRW_WEBHOOK_SIGNATURE: "a pushed change has a missing, bad or stale Standard Webhooks signature",
  CRW_WEBHOOK_BODY: "a pushed change's body could not be parsed or is not a change",
  CRW_WEBHOOK_TOO_LARGE: "a pushed change's body is larger than the configured limit",
  CRW_DIFF_INPUT: "diff input could not be read",
  CRW_LINT_INPUT: "lint input (a path or a --schemas CRD) could not be read",
  CRW_USAGE: "invalid command-line usage",
  CRW_API_BAD_PARAMETER: "a request parameter or body is missing or invalid",
  CRW_API_NOT_FOUND: "no such route or entry",
  CRW_API_UNAUTHORIZED: "a bearer token is missing or not recognised",
  CRW_API_FORBIDDEN: "the token's role does not allow this request",
  CRW_API_BODY_TOO_LARGE: "the request body is larger than the API accepts",
  CRW_API_SLOW_SUBSCRIBER:
    "a watch stream fell too far behind and was disconnected; reconnect with Last-Event-ID",
  CRW_API_LISTEN: "the API could not listen on its address",
  CRW_API_INTERNAL: "the API failed to answer a request; see the log",
  CRW_API_STREAM: "a watch stream could not be read or was cut",
  CRW_GAP: "a source could not see some interval (entries written before gap codes were typed)",
  CRW_RULE_COMPILE: "a user rule does not compile (CEL syntax or type error, bad template)",
  CRW_RULE_FAILED: "a rule threw while judging a change; the change is kept, the rule named",
  CRW_RULE_CONFIG: "the policy block is not usable (bad duration, unknown rule id in disable)",
  CRW_CRD_SCHEMA: "a CRD's openAPIV3Schema could not be compiled",
  CRW_BUILD_WORKER: "an ingest build worker failed or exited; its batch is retried",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

export class CrwatchError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CrwatchError";
    this.code = code;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
