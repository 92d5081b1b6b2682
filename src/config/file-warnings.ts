// What an operator should hear about the files a configuration names, at start and at every
// reload: the configuration file itself writable by its group or owned by another account (the
// same rule as for policies: refused if anyone can write it, warned about here), and secret
// files every account can read. The gateway runs on with them; the log says which and why.
import { checkFileTrust, worldReadable } from '../file-trust.js';
import type { GatewayConfig } from './types.js';

/** Every file the configuration names whose content is a secret (the dev issuer's key is refused outright elsewhere). */
function secretFiles(cfg: GatewayConfig): string[] {
  const files: (string | undefined)[] = [];
  for (const route of cfg.jitgate.routes) {
    for (const credential of Object.values(route.credentials)) files.push(credential.from_file);
    files.push(route.upstream_tls?.key_file);
  }
  for (const service of Object.values(cfg.services)) {
    files.push(service.credentials?.bearer?.token_path, service.credentials?.oauth2?.client_assertion_path, service.credentials?.client_tls?.private_key);
  }
  files.push(cfg.jitgate.listen.tls?.proxy?.key_file, cfg.jitgate.listen.tls?.control?.key_file);
  return files.filter((file): file is string => file !== undefined);
}

/** Each a sentence naming the file, its mode or owner, and what to change; empty when all is tight. */
export function configFileWarnings(cfg: GatewayConfig): string[] {
  const trust = cfg.source === null ? [] : checkFileTrust([cfg.source]).warnings;
  return [...trust, ...worldReadable(secretFiles(cfg))];
}
