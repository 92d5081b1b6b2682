// Notify part: signed webhooks for workflow events, retried with backoff, never blocking the workflow.
export { notifyConfigSchema, type NotifyConfig, type WebhookConfig } from './config.js';
export { createNotifier, type Notifier, type NotifierOptions, type NotifyLogger } from './notifier.js';
export { signature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './sign.js';
export { chatText, genericPayload, type GenericPayload } from './payload.js';
