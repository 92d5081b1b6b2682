// Service API keys: `jg_<id>.<secret>`. Only the SHA-256 of the whole key is configured, so a
// leaked config file does not leak keys; the id lets us find the one hash to compare against.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { seal, type Subject } from '../policy/index.js';
import { jitgateError } from '../errors.js';
import type { ApiKeyConfig } from './config.js';

export const API_KEY_PREFIX = 'jg_';
const KEY_PATTERN = /^jg_([a-z0-9][a-z0-9-]{0,62})\.([A-Za-z0-9_-]{8,256})$/;

/** Hex SHA-256 of the whole key string, as stored in the config (`api_keys[].sha256`). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Splits a presented key into its id, or null when it does not have the key format. */
export function parseApiKey(key: string): { id: string } | null {
  const m = KEY_PATTERN.exec(key);
  return m?.[1] ? { id: m[1] } : null;
}

/** A fresh random key for `id` and the hash to put into the config. */
export function generateApiKey(id: string): { key: string; sha256: string } {
  const key = `${API_KEY_PREFIX}${id}.${randomBytes(32).toString('base64url')}`;
  if (!parseApiKey(key)) throw jitgateError('VALIDATION', `invalid API key id "${id}"`);
  return { key, sha256: hashApiKey(key) };
}

interface KeyEntry {
  hash: Buffer;
  subject: Subject;
}

export class ApiKeyVerifier {
  private readonly byId = new Map<string, KeyEntry>();

  constructor(keys: readonly ApiKeyConfig[]) {
    for (const k of keys) {
      // Two entries with the same id would make the mapping depend on config order.
      if (this.byId.has(k.id)) throw jitgateError('CONFIG_INVALID', `api_keys: duplicate id "${k.id}"`);
      this.byId.set(k.id, {
        hash: Buffer.from(k.sha256, 'hex'),
        // Sealed: the one object every request with this key gets, parsed into the policy once.
        subject: seal({ id: k.subject, kind: 'service', groups: [...k.groups], claims: {} }),
      });
    }
  }

  /** The service subject for a valid key; throws API_KEY_INVALID otherwise. */
  verify(key: string): Subject {
    const parsed = parseApiKey(key);
    const entry = parsed ? this.byId.get(parsed.id) : undefined;
    // Hash even when the id is unknown, so unknown ids and wrong secrets cost the same.
    const presented = createHash('sha256').update(key, 'utf8').digest();
    const expected = entry?.hash ?? Buffer.alloc(32);
    if (!entry || !timingSafeEqual(presented, expected)) throw jitgateError('API_KEY_INVALID');
    return entry.subject;
  }
}
