// The console's browser files, read once when the control server is built. They are kept in
// src/console/static whether the gateway runs from src/ (tsx) or dist/ (tsc copies no assets):
// this module sits two levels below the project root in both.
import { readFileSync } from 'node:fs';

export interface Asset {
  body: Buffer;
  contentType: string;
}

const STATIC_DIR = new URL('../../src/console/static/', import.meta.url);

/** Every file the console serves: nothing outside this list is ever read from disk. */
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

export function loadAssets(): ReadonlyMap<string, Asset> {
  return new Map(Object.entries(FILES).map(([name, contentType]) => [name, { body: readFileSync(new URL(name, STATIC_DIR)), contentType }]));
}
