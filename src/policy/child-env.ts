// The environment the gateway's helper processes (opa, git) start with. The gateway's own holds
// what they must never see: upstream secrets (credentials' `from_env`), service tokens and
// signing keys. A child needs only what finds programs and files and sets the locale.

/** Kept: where programs, home and temporary files are, the locale, and who is running. */
const KEPT = /^(?:PATH|HOME|USER|LOGNAME|TMPDIR|TMP|TEMP|LANG|LANGUAGE|TZ|LC_[A-Z_]+)$/;

/** `env` without anything a child has no need of (every variable not matched by KEPT). */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && KEPT.test(name)) out[name] = value;
  }
  return out;
}
