// Services in OPA's `services` block, as jitgate calls them: bundle downloads, decision-log
// uploads and the checkpoint witness.
import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher } from 'undici';
import { clientConnectOptions, clientTlsId, unreadableFile, type ClientTlsParts } from '../tls/index.js';
import { readSecretFile } from '../secret-file.js';
import { oauth2Token, type OAuth2Credentials } from './oauth2.js';

export interface ServiceConfig {
  url: string;
  headers?: Record<string, string>;
  response_header_timeout_seconds?: number;
  /** OPA's service TLS: a CA (PEM file) to trust instead of the system roots, or beside them with system_ca_required. */
  tls?: { ca_cert?: string; system_ca_required?: boolean };
  /** OPA's bearer, oauth2 (client credentials) and client_tls credential plugins, one per service (the config refuses the others). */
  credentials?: {
    bearer?: { token?: string; token_path?: string; scheme?: string };
    oauth2?: OAuth2Credentials;
    client_tls?: { cert: string; private_key: string; private_key_passphrase?: string };
  };
}

export function serviceUrl(service: ServiceConfig, resource: string): string {
  return `${service.url.replace(/\/+$/, '')}/${resource.replace(/^\/+/, '')}`;
}

/**
 * The service's own headers and its bearer credential: OPA's `credentials.bearer` (a token, or
 * a file holding one, read on every call as OPA does, so a rotated token is picked up) or
 * `credentials.oauth2` (a token from the token endpoint, held until shortly before it expires).
 * Throws when no token can be had: the call is then not made without it.
 */
export async function serviceHeaders(service: ServiceConfig): Promise<Record<string, string>> {
  const headers: Record<string, string> = { ...service.headers };
  const { bearer, oauth2 } = service.credentials ?? {};
  if (bearer) {
    const token = bearer.token ?? readSecretFile(bearer.token_path ?? '', 'credentials.bearer.token_path').trim();
    if (token === '') throw new Error('credentials.bearer.token_path: the file it names is empty');
    headers.authorization = `${bearer.scheme ?? 'Bearer'} ${token}`;
  } else if (oauth2) {
    // Asked through the service's own TLS settings: a token endpoint behind the same internal CA.
    headers.authorization = `Bearer ${await oauth2Token(oauth2, serviceDispatcher(service))}`;
  }
  return headers;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const file = unreadableFile(path, err);
    throw new Error(`the ${what} ${file.path} cannot be read: ${file.reason}`, file.cause === undefined ? undefined : { cause: file.cause });
  }
}

/** The agent last made for each service, with the file contents it was made from. */
const agents = new WeakMap<ServiceConfig, { id: string; agent: Agent }>();

/**
 * What a call to the service goes through: undefined (undici's global dispatcher) without TLS
 * settings; otherwise an agent trusting the service's CA and presenting its client certificate
 * (OPA's `tls` and `credentials.client_tls`). The files are read on every call, so renewed ones
 * are used from the next call (the agent made from the old ones is closed). Throws when a file
 * cannot be read or the files do not fit together: the call is then not made without them.
 */
export function serviceDispatcher(service: ServiceConfig): Dispatcher | undefined {
  const client = service.credentials?.client_tls;
  const caFile = service.tls?.ca_cert;
  if (client === undefined && caFile === undefined) return undefined;
  const parts: ClientTlsParts = {};
  if (caFile !== undefined) {
    parts.ca = readPem(caFile, 'CA certificate (tls.ca_cert)');
    parts.withSystemRoots = service.tls?.system_ca_required === true;
  }
  if (client !== undefined) {
    parts.cert = readPem(client.cert, 'client certificate (credentials.client_tls.cert)');
    parts.key = readPem(client.private_key, 'client key (credentials.client_tls.private_key)');
    if (client.private_key_passphrase !== undefined) parts.passphrase = client.private_key_passphrase;
  }
  // Only a new set of files is checked and gets an agent: unchanged ones reuse theirs.
  const id = clientTlsId(parts);
  const known = agents.get(service);
  if (known?.id === id) return known.agent;
  const agent = new Agent({ connect: clientConnectOptions(parts) });
  if (known) void known.agent.close().catch(() => undefined);
  agents.set(service, { id, agent });
  return agent;
}
