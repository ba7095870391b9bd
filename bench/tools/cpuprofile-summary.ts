/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time and total
 * (inclusive) time per function, top N.
 *
 *   npx tsx bench/tools/cpuprofile-summary.ts <file.cpuprofile> [topN]
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: cpuprofile-summary <file.cpuprofile> [topN]');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n: ProfileNode): string => {
  const url = n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench)\//, '$1/');
  return `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
};

const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  all += dt;
  let node = byId.get(profile.samples[i]!);
  if (!node) continue;
  self.set(label(node), (self.get(label(node)) ?? 0) + dt);
  const seen = new Set<string>();
  while (node) {
    const l = label(node);
    if (!seen.has(l)) {
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
    }
    const p = parent.get(node.id);
    node = p === undefined ? undefined : byId.get(p);
  }
}

const show = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title} (of ${(all / 1000).toFixed(0)} ms sampled)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * v) / all).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
};
show('self time', self);
show('total time', total);
