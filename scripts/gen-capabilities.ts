// Regenerates opa/capabilities.json from the installed opa (see src/policy/capabilities.ts).
// Run: node --import tsx scripts/gen-capabilities.ts   (after upgrading opa or adding a custom builtin)
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { defaultCapabilitiesPath, generateCapabilities, requireOpa, serializeCapabilities } from '../src/policy/index.js';

const opa = await requireOpa();
const capabilities = await generateCapabilities(opa);
const path = defaultCapabilitiesPath();
await mkdir(dirname(path), { recursive: true });
await writeFile(path, serializeCapabilities(capabilities));
console.log(`${path}: ${capabilities.builtins.length} builtins, features ${capabilities.features.join(', ')}`);
