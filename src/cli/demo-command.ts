/**
 * `tillsync demo` (what `npm start` runs, F14): a cloud and two terminal agents
 * of one store with a seeded catalog (10k items with barcodes, 2k customers with
 * balances, vouchers). Prints the URLs of both pages of both terminals and of
 * the cloud; Ctrl-C stops everything cleanly. Data lives in the folder it names
 * and is reused on the next start.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writePrivateFileAtomic } from '../events/atomic-file.ts';
import { DEMO_CLI_FILE, DEMO_DATA_DIR, type DemoCliFile } from './agent-flags.ts';
import type { Command } from 'commander';
import { generateCatalog } from '../fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../fixtures/customers.ts';
import { DEMO_STAFF, startEnvironment } from './demo-env.ts';
import { logLevelFromEnv } from '../http/logging.ts';
import { wholeNumber } from './flag-values.ts';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a cloud and two terminals with a seeded catalog on this machine (npm start)')
    .option('--data <dir>', 'folder for all demo data (reused on the next start)', DEMO_DATA_DIR)
    .option('--port-base <port>', 'cloud on this port, terminals on the next ones (0: any free ports)', wholeNumber('--port-base', 0, 65_000, 'a port number'), 7400)
    .option('--items <n>', 'catalog size on first start', wholeNumber('--items', 1, 1_000_000), 10_000)
    .option('--customers <n>', 'customers on first start', wholeNumber('--customers', 1, 1_000_000), 2_000)
    .action(async (o: { data: string; portBase: number; items: number; customers: number }) => {
      const { portBase: base, items, customers } = o;
      const dir = resolve(o.data);
      const started = Date.now();
      const env = await startEnvironment({
        dir,
        store: 'demo-store',
        storeName: 'tillsync demo store',
        settings: { offlineStoredValue: 'cap', offlineCap: 5_000 },
        seed: () => ({
          items: generateCatalog({ seed: 42, items }),
          customers: generateCustomers({ seed: 43, count: customers }),
          vouchers: generateVouchers({ seed: 44, count: 200 }),
        }),
        cloudPort: base,
        agentPorts: base === 0 ? [0, 0] : [base + 1, base + 2],
        onProgress: (m) => console.log(`  ${m}`),
        // Warnings and errors only, so the demo's own lines stay readable (LOG_LEVEL=info for every request).
        logging: { level: logLevelFromEnv('warn') },
      });
      console.log(`tillsync demo ready in ${((Date.now() - started) / 1000).toFixed(1)} s (data in ${dir}${env.seeded ? ', newly seeded' : ', reused'})`);
      console.log(`cloud:            ${env.cloudUrl}  (admin token in ${dir}/admin-token)`);
      for (const a of env.agents) {
        console.log(`terminal ${a.terminal.terminal}:`);
        console.log(`  Sync Manager:   ${a.url}/`);
        console.log(`  Checkout:       ${a.url}/checkout`);
        console.log(`  pairing token:  ${a.pairingTokenFile}  (for the CLI: --agent ${a.url} --agent-token-file <that file>)`);
      }
      // While it runs, the CLI started from this folder finds the first terminal by itself (agent-flags.ts).
      const cliFile = join(dir, DEMO_CLI_FILE);
      const forCli: DemoCliFile = { cloud: env.cloudUrl, agents: env.agents.map((a) => ({ terminal: a.terminal.terminal, url: a.url, tokenFile: a.pairingTokenFile })) };
      await writePrivateFileAtomic(cliFile, `${JSON.stringify(forCli, null, 2)}\n`);
      const first = env.agents[0]!;
      console.log(`the CLI (tillsync status, sync, audit…) run from ${resolve('.')} talks to ${first.terminal.terminal}; for another shell or terminal:`);
      console.log(`  export TILLSYNC_AGENT=${first.url} TILLSYNC_AGENT_TOKEN_FILE=${first.pairingTokenFile}`);
      console.log('staff sign-in on every terminal\'s pages (demo accounts):');
      for (const s of DEMO_STAFF) console.log(`  ${s.role.padEnd(8)} staff ID ${s.id.padEnd(8)} PIN ${s.pin}`);
      console.log('Press Ctrl-C to stop.');
      await new Promise<void>((done) => {
        // `on`, not `once`: Ctrl-C under npm delivers SIGINT twice (the group's and
        // npm's forwarded one); a second one must not kill us mid-shutdown.
        process.on('SIGINT', done);
        process.on('SIGTERM', done);
      });
      console.log('stopping…');
      await rm(cliFile, { force: true });
      await env.stop();
      console.log('stopped');
    });
}
