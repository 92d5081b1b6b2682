// `jitgate build`: compiles policies/ with `opa build -t wasm` into bundles/jitgate.tar.gz,
// the bundle a gateway (or a CI pipeline) loads. Compile errors print opa's file:line
// messages and exit non-zero.
import { join } from 'node:path';
import type { Command } from 'commander';
import { isJitgateError } from '../../errors.js';
import { EXIT } from '../context.js';

interface BuildCommandOptions {
  config?: string;
  dir?: string;
  output?: string;
  opa?: string;
  revision?: string;
  capabilities?: string;
}

export function register(program: Command): void {
  program
    .command('build')
    .description('compile the Rego policies to a WebAssembly bundle (opa build -t wasm)')
    .option('-c, --config <file>', 'take policy.dir, policy.bundles_dir and policy.opa_path from this gateway configuration')
    .option('-d, --dir <dir>', 'policies folder (default: ./policies)')
    .option('-o, --output <file>', 'bundle to write (default: ./bundles/jitgate.tar.gz)')
    .option('--opa <path>', 'opa binary (default: $JITGATE_OPA, .tools/bin/opa, PATH)')
    .option('--revision <rev>', 'bundle revision (default: git commit of the policies folder, -dirty if changed)')
    .option('--capabilities <file>', 'capabilities file (default: opa/capabilities.json)')
    .action(async (options: BuildCommandOptions) => {
      try {
        const { loadConfig } = await import('../../config/index.js');
        const { BUNDLE_FILE_NAME, buildBundle, requireOpa } = await import('../../policy/index.js');
        const policy = options.config ? loadConfig(options.config).jitgate.policy : undefined;
        const dir = options.dir ?? policy?.dir ?? './policies';
        const output = options.output ?? join(policy?.bundles_dir ?? './bundles', BUNDLE_FILE_NAME);
        const opaPath = await requireOpa(options.opa ?? policy?.opa_path);
        const result = await buildBundle({
          dir,
          opaPath,
          outFile: output,
          ...(options.revision ? { revision: options.revision } : {}),
          ...(options.capabilities ? { capabilitiesPath: options.capabilities } : {}),
        });
        process.stdout.write(
          `${result.outFile ?? ''}\n  revision     ${result.revision}\n  entrypoints  ${result.engine.info.entrypoints.join(', ')}\n  sources      ${result.sources.join(', ')}\n  host builtins ${result.engine.info.hostBuiltins.join(', ') || '(none)'}\n`,
        );
      } catch (error) {
        if (isJitgateError(error)) {
          process.stderr.write(`jitgate build: ${error.message} [${error.code}]\n`);
        } else {
          process.stderr.write(`jitgate build: ${(error as Error).message}\n`);
        }
        process.exitCode = EXIT.FAILURE;
      }
    });
}
