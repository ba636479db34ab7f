import type { SinkCommonConfig } from "../config-schema.js";

export interface SlackSinkConfig extends SinkCommonConfig {
  type: "slack";
  /** The incoming-webhook URL: a secret, write it as `${SLACK_WEBHOOK_URL}`. */
  url: string;
  /** Message template (see slack/template.ts); default: resource, actor, cause, finding, diff. */
  template?: string;
  /** Diff summary lines shown before `… N more` (default 10). */
  maxDiffLines?: number;
}

export const slackSinkSchema = {
  required: ["url"],
  properties: {
    type: { const: "slack" },
    url: { type: "string", pattern: "^https?://" },
    template: { type: "string", minLength: 1 },
    maxDiffLines: { type: "integer", minimum: 1 },
  },
} as const;
