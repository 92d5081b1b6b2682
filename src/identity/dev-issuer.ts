// Development token issuer for the demo: signs short-lived tokens for sample subjects with a key
// generated on first use into key_file. Never meant for production; the gateway logs loudly when on.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JSONWebKeySet } from 'jose';
import { jitgateError } from '../errors.js';
import type { DevIssuerConfig } from './config.js';
import { checkIdentityNames } from './subject-id.js';

export const DEV_ISSUER = 'urn:jitgate:dev-issuer';
export const DEV_AUDIENCE = 'jitgate';
export const DEV_ALGORITHM = 'EdDSA';

export interface DevIssuer {
  readonly issuer: string;
  readonly audience: string;
  /** Public half only, for the authenticator. */
  jwks(): Promise<JSONWebKeySet>;
  /** Groups default to the configured sample subject's groups. */
  issue(sub: string, groups?: string[], ttlSeconds?: number): Promise<string>;
}

interface StoredKey {
  private: JWK;
  public: JWK;
}

function isStoredKey(v: unknown): v is StoredKey {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Partial<StoredKey>;
  return typeof o.private?.d === 'string' && typeof o.public?.x === 'string' && typeof o.public.kid === 'string';
}

async function readKey(path: string): Promise<StoredKey | null> {
  let text: string;
  try {
    // Whoever can read this key can be anyone, and whoever can write it can put in a key of their
    // own: as ssh does for a private key, one that others can read or write, or that another
    // account owns, is refused rather than used (it was, once, copied 0644 to the replicas, and
    // another local account minted an approver's token with it).
    const st = await stat(path);
    const me = typeof process.geteuid === 'function' ? process.geteuid() : st.uid;
    if ((st.mode & 0o077) !== 0 || (st.uid !== me && st.uid !== 0)) {
      throw jitgateError('CONFIG_INVALID', `identity.dev_issuer.key_file ${path}: other accounts can read or change it (mode ${(st.mode & 0o777).toString(8)}, owner uid ${String(st.uid)}); chmod 600 it, owned by the gateway's account`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed: unknown = JSON.parse(text);
  if (!isStoredKey(parsed)) throw jitgateError('CONFIG_INVALID', `${path}: not a jitgate dev issuer key`);
  return parsed;
}

async function createKey(path: string): Promise<StoredKey> {
  const { privateKey, publicKey } = await generateKeyPair(DEV_ALGORITHM, { crv: 'Ed25519', extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  const stored: StoredKey = {
    private: { ...(await exportJWK(privateKey)), kid, alg: DEV_ALGORITHM, use: 'sig' },
    public: { ...pub, kid, alg: DEV_ALGORITHM, use: 'sig' },
  };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // 'wx': when the gateway and `jitgate token` race on first use, exactly one key wins.
    await writeFile(path, JSON.stringify(stored, null, 2) + '\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const winner = await readKey(path);
    if (!winner) throw err;
    return winner;
  }
  return stored;
}

export function createDevIssuer(config: DevIssuerConfig): DevIssuer {
  if (!config.enabled) throw jitgateError('CONFIG_INVALID', 'identity.dev_issuer is not enabled');
  const keyFile = config.key_file;
  if (!keyFile) throw jitgateError('CONFIG_INVALID', 'identity.dev_issuer.key_file is required when the dev issuer is enabled');
  let loaded: Promise<StoredKey> | null = null;
  const key = (): Promise<StoredKey> => {
    loaded ??= readKey(keyFile).then((k) => k ?? createKey(keyFile));
    return loaded;
  };
  return {
    issuer: DEV_ISSUER,
    audience: DEV_AUDIENCE,
    async jwks() {
      return { keys: [(await key()).public] };
    },
    async issue(sub, groups, ttlSeconds) {
      const resolvedGroups = groups ?? config.subjects[sub] ?? [];
      // The gateway would refuse the token; said here, where the subject was typed.
      checkIdentityNames(sub, resolvedGroups);
      const stored = await key();
      const privateKey = await importJWK(stored.private, DEV_ALGORITHM);
      return new SignJWT({ groups: resolvedGroups })
        .setProtectedHeader({ alg: DEV_ALGORITHM, kid: stored.public.kid ?? '', typ: 'JWT' })
        .setIssuer(DEV_ISSUER)
        .setAudience(DEV_AUDIENCE)
        .setSubject(sub)
        .setIssuedAt()
        .setJti(randomUUID())
        .setExpirationTime(`${ttlSeconds ?? config.token_ttl_seconds}s`)
        .sign(privateKey);
    },
  };
}
