import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-jitgate-signature';
export const TIMESTAMP_HEADER = 'x-jitgate-timestamp';

/**
 * `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<raw body>`: the timestamp is signed
 * too, so a receiver can refuse replays of old deliveries.
 */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}
