// A real browser for the console's tests: Debian's Chromium (installed by
// scripts/ensure-chromium.sh when missing), driven by playwright-core.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

const root = fileURLToPath(new URL('../..', import.meta.url));

export function chromiumPath(): string {
  if (!process.env.JITGATE_TEST_CHROMIUM) {
    process.env.JITGATE_TEST_CHROMIUM = execFileSync('bash', ['scripts/ensure-chromium.sh'], { cwd: root, encoding: 'utf8' }).trim();
  }
  return process.env.JITGATE_TEST_CHROMIUM;
}

export function launchBrowser(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
}
