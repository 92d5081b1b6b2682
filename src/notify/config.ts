import type { SchemaObject } from 'ajv';

export interface WebhookConfig {
  name: string;
  url: string;
  /** `generic` JSON event, or `chat` (Slack/Mattermost-compatible incoming webhook: {"text": ...}). */
  format: 'generic' | 'chat';
  /** Environment variable holding the HMAC-SHA256 signing secret. */
  secret_env?: string;
  /** Event types to send; empty = all. */
  events: string[];
  max_attempts: number;
}

export interface NotifyConfig {
  webhooks: WebhookConfig[];
}

export const notifyConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    webhooks: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'url'],
        properties: {
          name: { type: 'string', minLength: 1 },
          url: { type: 'string', pattern: '^https?://' },
          format: { type: 'string', enum: ['generic', 'chat'], default: 'generic' },
          secret_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
          events: { type: 'array', items: { type: 'string' }, default: [] },
          max_attempts: { type: 'integer', minimum: 1, maximum: 20, default: 6 },
        },
      },
    },
  },
};
