// Credential broker: upstream secrets are read from the environment or files at start (a missing one
// stops the gateway from starting rather than failing requests later), held only in memory, and turned
// into exactly one request header after an allow.
import { jitgateError } from '../errors.js';
import { readSecretFile } from '../secret-file.js';
import type { CredentialConfig, RouteConfig } from './config.js';

export interface InjectedHeader {
  /** Lower-case header name. */
  name: string;
  value: string;
}

/**
 * Percent-encoding as the common encoders write it: each keeps its own set of characters as they
 * are (`keep`), some write a space as `+`, and the hex digits come in either case.
 */
const URL_ENCODERS: readonly { keep: RegExp; spaceAsPlus: boolean }[] = [
  { keep: /[A-Za-z0-9\-_.!~*'()]/, spaceAsPlus: false }, // JavaScript's encodeURIComponent
  { keep: /[A-Za-z0-9\-_.!~*'();,/?:@&=+$#]/, spaceAsPlus: false }, // JavaScript's encodeURI
  { keep: /[A-Za-z0-9\-_.~/]/, spaceAsPlus: false }, // Python's quote (keeps /), Go's PathEscape-like
  { keep: /[A-Za-z0-9\-_.~]/, spaceAsPlus: false }, // RFC 3986 unreserved only
  { keep: /[A-Za-z0-9\-_.~]/, spaceAsPlus: true }, // Python's quote_plus and urlencode, Go's QueryEscape
  { keep: /[A-Za-z0-9*\-_.]/, spaceAsPlus: true }, // forms (URLSearchParams, browsers)
];

function percentEncoded(text: string, keep: RegExp, spaceAsPlus: boolean, lowerHex: boolean): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    if (byte < 0x80 && keep.test(ch)) out += ch;
    else if (byte === 0x20 && spaceAsPlus) out += '+';
    else {
      const hex = byte.toString(16).padStart(2, '0');
      out += `%${lowerHex ? hex : hex.toUpperCase()}`;
    }
  }
  return out;
}

/**
 * As JSON encoders write a string's inside: JavaScript's, PHP's (`\/`), Go's (`\u0026` for `&`,
 * `<`, `>`), and, beyond ASCII, Python's and Jackson's `\uXXXX` for every other character.
 */
function jsonEscaped(text: string): string[] {
  const js = JSON.stringify(text).slice(1, -1);
  const go = js.replaceAll('&', '\\u0026').replaceAll('<', '\\u003c').replaceAll('>', '\\u003e');
  const forms = [js, js.replaceAll('/', '\\/'), go, go.replaceAll('/', '\\/')];
  if (/[\u0080-\uffff]/.test(js)) {
    for (const upper of [false, true]) {
      const ascii = js.replace(/[\u0080-\uffff]/g, (c) => {
        const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
        return `\\u${upper ? hex.toUpperCase() : hex}`;
      });
      forms.push(ascii, ascii.replaceAll('/', '\\/'));
    }
  }
  return forms;
}

/**
 * Every form in which an upstream could echo this credential back: the header value, the secret
 * on its own (an upstream that reports the token it got, as httpbin's /bearer does), Basic's
 * encoded and decoded parts, and each of these as the common JSON and URL encoders escape it.
 */
function echoForms(cfg: CredentialConfig, secret: string, header: InjectedHeader): string[] {
  const forms = [header.value, secret];
  if (cfg.type === 'basic') {
    const pair = `${cfg.username ?? ''}:${secret}`;
    forms.push(pair, header.value.slice('Basic '.length));
  }
  for (const plain of forms.slice(1)) {
    forms.push(...jsonEscaped(plain));
    for (const { keep, spaceAsPlus } of URL_ENCODERS) {
      forms.push(percentEncoded(plain, keep, spaceAsPlus, false), percentEncoded(plain, keep, spaceAsPlus, true));
    }
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
      value = readSecretFile(cfg.from_file, `route ${routeName} credential ${credName} from_file`).replace(/\r?\n$/, '');
    } catch (err) {
      throw jitgateError('SECRET_MISSING', (err as Error).message);
    }
    if (value === '') throw jitgateError('SECRET_MISSING', `route ${routeName} credential ${credName}: the file from_file names is empty`);
  }
  if (value === undefined) throw jitgateError('SECRET_MISSING', `route ${routeName} credential ${credName}: no source`);
  // A secret with CR/LF would let it smuggle headers.
  if (/[\r\n\0]/.test(value)) throw jitgateError('SECRET_MISSING', `route ${routeName} credential ${credName}: contains a line break`);
  // Sent as a header's value as it is (Basic encodes it): one no header can carry would fail
  // every allowed request upstream; it is refused at load instead, without saying what it holds.
  if (cfg.type !== 'basic' && !/^[\t\x20-\x7e]*$/.test(value)) {
    throw jitgateError('SECRET_MISSING', `route ${routeName} credential ${credName}: holds characters a header value cannot carry (only visible ASCII, space and tab)`);
  }
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
