// The `jitgate` command. Each subcommand lives in commands/<name>.ts and registers itself here.
import { Command } from 'commander';
import { EXIT, type RegisterCommand } from './context.js';
import { register as requestCommand } from './commands/request.js';
import { register as requestsCommand } from './commands/requests.js';
import { register as approveCommand } from './commands/approve.js';
import { register as denyCommand } from './commands/deny.js';
import { register as withdrawCommand } from './commands/withdraw.js';
import { register as revokeCommand } from './commands/revoke.js';
import { register as reviewCommand } from './commands/review.js';
import { register as grantsCommand } from './commands/grants.js';
import { register as whoamiCommand } from './commands/whoami.js';
import { register as auditCommand } from './commands/audit.js';
import { register as tokenCommand } from './commands/token.js';
import { register as buildCommand } from './commands/build.js';
import { register as replayCommand } from './commands/replay.js';
import { register as serveCommand } from './commands/serve.js';
import { register as demoCommand } from './commands/demo.js';
import { register as apikeyCommand } from './commands/apikey.js';

const commands: RegisterCommand[] = [
  serveCommand,
  demoCommand,
  apikeyCommand,
  requestCommand,
  requestsCommand,
  approveCommand,
  denyCommand,
  withdrawCommand,
  revokeCommand,
  reviewCommand,
  grantsCommand,
  whoamiCommand,
  auditCommand,
  tokenCommand,
  buildCommand,
  replayCommand,
];

const program = new Command('jitgate')
  .description('Policy-as-code API gateway for just-in-time privilege elevation')
  .showHelpAfterError()
  .version('0.1.0')
  // An unknown command or flag is a usage error (2), as for every command; help and version exit 0.
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT.USAGE);
  });
for (const register of commands) register(program);

await program.parseAsync(process.argv);
