// The `jitgate` command. Each subcommand lives in commands/<name>.ts and registers itself here.
import { Command } from 'commander';
import type { RegisterCommand } from './context.js';

const commands: RegisterCommand[] = [];

const program = new Command('jitgate')
  .description('Policy-as-code API gateway for just-in-time privilege elevation')
  .showHelpAfterError()
  .version('0.1.0');
for (const register of commands) register(program);

await program.parseAsync(process.argv);
