// Services in OPA's `services` block, as the audit part calls them: the decision-log upload
// and the checkpoint witness.

export interface ServiceConfig {
  url: string;
  headers?: Record<string, string>;
  response_header_timeout_seconds?: number;
  credentials?: Record<string, unknown>;
}

export function serviceUrl(service: ServiceConfig, resource: string): string {
  return `${service.url.replace(/\/+$/, '')}/${resource.replace(/^\/+/, '')}`;
}

/** The service's own headers and OPA's `credentials.bearer` ({token, scheme}); other credential plugins are not supported here. */
export function serviceHeaders(service: ServiceConfig): Record<string, string> {
  const headers: Record<string, string> = { ...service.headers };
  const bearer = service.credentials?.bearer as { token?: unknown; scheme?: unknown } | undefined;
  if (bearer && typeof bearer.token === 'string') {
    headers.authorization = `${typeof bearer.scheme === 'string' ? bearer.scheme : 'Bearer'} ${bearer.token}`;
  }
  return headers;
}
