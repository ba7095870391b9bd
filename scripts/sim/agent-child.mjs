// A terminal agent for the fault simulator, run by plain node from a compiled
// build (scripts/build.ts): node agent-child.mjs DIST DATA_DIR.
//
// Its wall clock can be moved: the parent sends { clock: offsetMs } over IPC
// and every Date (Date.now(), new Date()) is shifted by it, as a wrong system
// clock would be. Timers and performance.now() stay on the monotonic clock,
// as they do on a real machine whose wall clock jumps.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, dataDir] = process.argv.slice(2);
let offset = 0;
const RealDate = Date;
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }
  static now() {
    return RealDate.now() + offset;
  }
}
globalThis.Date = ShiftedDate;
process.on('message', (m) => {
  if (m && typeof m.clock === 'number') offset = m.clock;
});

const { TerminalAgent, readAgentConfig } = await import(pathToFileURL(join(dist, 'src/terminal/agent.js')).href);
const config = await readAgentConfig(dataDir);
if (!config) throw new Error(`no agent.json in ${dataDir}`);
const agent = await TerminalAgent.start({
  ...config,
  dataDir,
  port: 0,
  worker: { uploadPollMs: 100, download: { intervalMs: 300, pageSize: 200 }, stallMs: 5_000, backoff: { initialMs: 50, maxMs: 500 } },
});
process.stdout.write(`url ${agent.url}\n`);
const stop = async () => {
  await agent.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
