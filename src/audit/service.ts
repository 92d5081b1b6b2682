// Services in OPA's `services` block, as the audit part calls them: the decision-log upload
// and the checkpoint witness.
import { readFileSync } from 'node:fs';

export interface ServiceConfig {
  url: string;
  headers?: Record<string, string>;
  response_header_timeout_seconds?: number;
  /** OPA's bearer credential plugin, the only one supported (the config refuses the others). */
  credentials?: { bearer?: { token?: string; token_path?: string; scheme?: string } };
}

export function serviceUrl(service: ServiceConfig, resource: string): string {
  return `${service.url.replace(/\/+$/, '')}/${resource.replace(/^\/+/, '')}`;
}

/**
 * The service's own headers and its bearer credential (OPA's `credentials.bearer`: a token,
 * or a file holding one, read on every call as OPA does, so a rotated token is picked up).
 * Throws when the token file cannot be read or is empty: the call is then not made without it.
 */
export function serviceHeaders(service: ServiceConfig): Record<string, string> {
  const headers: Record<string, string> = { ...service.headers };
  const bearer = service.credentials?.bearer;
  if (bearer) {
    const token = bearer.token ?? readFileSync(bearer.token_path ?? '', 'utf8').trim();
    if (token === '') throw new Error(`the bearer token file ${String(bearer.token_path)} is empty`);
    headers.authorization = `${bearer.scheme ?? 'Bearer'} ${token}`;
  }
  return headers;
}
