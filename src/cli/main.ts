/**
 * `tillsync` — runs the cloud and the terminal agent, and exposes every Sync
 * Manager operation, admin and audit task. `tillsync <verb> --help` for each.
 */
import { Command, CommanderError } from 'commander';
import { holdsCardNumber } from '../events/card-data.ts';
import { registerCloudCommands } from './cloud-commands.ts';
import { registerDayCommands } from './day-commands.ts';
import { registerDemoCommand } from './demo-command.ts';
import { registerLoadTestCommand } from './loadtest-command.ts';
import { endQuietlyWhenStdoutCloses, EXIT, hintFor, reportError } from './output.ts';
import { registerTerminalCommands } from './terminal-commands.ts';

endQuietlyWhenStdoutCloses();
const program = new Command('tillsync')
  .description('offline-first, event-sourced sync engine for point-of-sale terminals')
  .showHelpAfterError()
  .exitOverride()
  // commander's own refusals (an unknown verb or flag, a missing flag, a bad value from a
  // parser in flag-values.ts, .choices(), .conflicts()) are usage errors like any other:
  // VALIDATION_FAILED with what to do, as JSON with --json; main exits 2 below.
  .configureOutput({
    outputError: (text, write) => {
      // commander quotes the value it refused: never a card number (README, "Card data and limits").
      const said = text.replace(/^error: /, '').trim();
      const message = holdsCardNumber(said) ? 'a flag value was refused; it may hold a card number, so it is not shown' : said;
      if (process.argv.includes('--json')) console.log(JSON.stringify({ error: { code: 'VALIDATION_FAILED', message } }));
      else write(`error VALIDATION_FAILED: ${message}\n  what to do: ${hintFor('VALIDATION_FAILED')}\n`);
    },
  });
registerTerminalCommands(program);
registerCloudCommands(program);
registerDayCommands(program);
registerDemoCommand(program);
registerLoadTestCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here with exit code 0.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    process.exitCode = reportError(err, process.argv.includes('--json'));
  }
}
