// Credential broker: upstream secrets are read from the environment or files at start (a missing one
// stops the gateway from starting rather than failing requests later), held only in memory, and turned
// into exactly one request header after an allow.
import { readFileSync } from 'node:fs';
import { jitgateError } from '../errors.js';
import type { CredentialConfig, RouteConfig } from './config.js';

export interface InjectedHeader {
  /** Lower-case header name. */
  name: string;
  value: string;
}

/**
 * Every form in which an upstream could echo this credential back: the header value, the secret
 * on its own (an upstream that reports the token it got, as httpbin's /bearer does), Basic's
 * encoded and decoded parts, and the secret as JSON, a URL or a form would escape it.
 */
function echoForms(cfg: CredentialConfig, secret: string, header: InjectedHeader): string[] {
  const forms = [header.value, secret];
  if (cfg.type === 'basic') {
    const pair = `${cfg.username ?? ''}:${secret}`;
    forms.push(pair, header.value.slice('Basic '.length));
  }
  for (const plain of forms.slice(1)) {
    forms.push(JSON.stringify(plain).slice(1, -1), encodeURIComponent(plain), new URLSearchParams({ s: plain }).toString().slice(2));
  }
  return [...new Set(forms)];
}

function readSecret(routeName: string, credName: string, cfg: CredentialConfig, env: NodeJS.ProcessEnv): string {
  let value: string | undefined;
  if (cfg.from_env !== undefined) {
    value = env[cfg.from_env];
    if (value === undefined || value === '') {
      throw jitgateError('SECRET_MISSING', `route ${routeName} credential ${credName}: environment variable ${cfg.from_env} is not set`);
    }
  } else if (cfg.from_file !== undefined) {
    try {
      value = readFileSync(cfg.from_file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw jitgateError('SECRET_MISSING', `route ${routeName} credential ${credName}: ${cfg.from_file} cannot be read`, undefined, err);
    }
    if (value === '') throw jitgateError('SECRET_MISSING', `route ${routeName} credential ${credName}: ${cfg.from_file} is empty`);
  }
  if (value === undefined) throw jitgateError('SECRET_MISSING', `route ${routeName} credential ${credName}: no source`);
  // A secret with CR/LF would let it smuggle headers.
  if (/[\r\n\0]/.test(value)) throw jitgateError('SECRET_MISSING', `route ${routeName} credential ${credName}: contains a line break`);
  return value;
}

function toHeader(cfg: CredentialConfig, secret: string): InjectedHeader {
  switch (cfg.type) {
    case 'bearer':
      return { name: 'authorization', value: `Bearer ${secret}` };
    case 'basic':
      return { name: 'authorization', value: `Basic ${Buffer.from(`${cfg.username ?? ''}:${secret}`, 'utf8').toString('base64')}` };
    case 'header':
      if (!cfg.header) throw jitgateError('CONFIG_INVALID', 'a header credential needs `header`');
      return { name: cfg.header.toLowerCase(), value: secret };
  }
}

export class CredentialBroker {
  private readonly byRoute = new Map<string, Map<string, InjectedHeader>>();
  /** Per route: every header name a credential of that route may set (stripped from callers). */
  private readonly headerNames = new Map<string, Set<string>>();
  private readonly echoes: string[] = [];

  constructor(routes: readonly RouteConfig[], env: NodeJS.ProcessEnv = process.env) {
    for (const route of routes) {
      const creds = new Map<string, InjectedHeader>();
      const names = new Set<string>();
      for (const [name, cfg] of Object.entries(route.credentials)) {
        const secret = readSecret(route.name, name, cfg, env);
        const header = toHeader(cfg, secret);
        creds.set(name, header);
        this.echoes.push(...echoForms(cfg, secret, header));
        names.add(header.name);
      }
      if (route.default_credential !== undefined && !creds.has(route.default_credential)) {
        throw jitgateError('CONFIG_INVALID', `route ${route.name}: default_credential "${route.default_credential}" is not one of its credentials`);
      }
      this.byRoute.set(route.name, creds);
      this.headerNames.set(route.name, names);
    }
  }

  /** Names only, for the policy input. */
  names(routeName: string): string[] {
    return [...(this.byRoute.get(routeName)?.keys() ?? [])];
  }

  /** Header names the route's credentials use (callers may never set them). */
  reservedHeaders(routeName: string): ReadonlySet<string> {
    return this.headerNames.get(routeName) ?? new Set();
  }

  /** Throws CREDENTIAL_UNKNOWN when the policy names a credential the route does not have. */
  header(routeName: string, credName: string): InjectedHeader {
    const h = this.byRoute.get(routeName)?.get(credName);
    if (!h) throw jitgateError('CREDENTIAL_UNKNOWN', `route ${routeName} has no credential "${credName}"`);
    return h;
  }

  /** Every secret, in each form an echo of it could take (what responses are masked for). */
  secretValues(): readonly string[] {
    return this.echoes;
  }
}
