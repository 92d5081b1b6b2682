// Notify part: signed webhooks for workflow events, retried with backoff, never blocking the workflow.
export { notifyConfigSchema, type NotifyConfig, type WebhookConfig } from './config.js';
