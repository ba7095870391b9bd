// The package as a library: packed with npm (its prepack builds dist/ with the
// declarations: scripts/build.ts), unpacked into a project of its own outside the repository, and used
// there through package.json `exports` with plain node (no tsx anywhere): the
// README's Library example runs and prints what its comments say, a TypeScript
// use of the entry typechecks against the shipped declarations, and the packed
// CLI runs its compiled code. The project sees only the dependencies
// package.json declares (each linked from this clone's node_modules), so an
// undeclared runtime import fails here; every bare import in the shipped
// .js and .d.ts files is checked against the declared list as well.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string; version: string; dependencies: Record<string, string>; exports: Record<string, unknown>; types: string; files: string[];
  bin: Record<string, string>; engines: { node: string };
};
/** A child with plain node: none of the test runner's loaders (tsx) or NODE_OPTIONS. */
const PLAIN_ENV = { ...process.env, NODE_OPTIONS: '' };

// A copy of what `npm pack` reads in a clone (sources, build script, configs; node_modules
// linked), so that its prepack build goes to the copy's dist/ and the clone's own is left alone.
const STAGE = join(ROOT, 'test-output', `package-${process.pid}`);
const OUT = mkdtempSync(join(tmpdir(), 'tillsync-package-'));
t.teardown(() => {
  rmSync(STAGE, { recursive: true, force: true });
  rmSync(OUT, { recursive: true, force: true });
});
mkdirSync(STAGE, { recursive: true });
for (const f of ['package.json', 'package-lock.json', 'README.md', 'bin', 'src', 'scripts/build.ts', 'tsconfig.json', 'tsconfig.build.json', 'bench/tools']) {
  cpSync(join(ROOT, f), join(STAGE, f), { recursive: true });
}
symlinkSync(join(ROOT, 'node_modules'), join(STAGE, 'node_modules'), 'dir');

// The real `npm pack`, prepack (`npm run build`) included: its --json output must stay parseable.
const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', OUT], {
  cwd: STAGE, env: PLAIN_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
})) as Array<{ filename: string; files: Array<{ path: string }> }>;
const files = packed[0]!.files.map((f) => f.path);

t.test('the tarball holds the compiled package, not the sources', async (t) => {
  for (const f of ['package.json', 'README.md', 'bin/tillsync.js', 'bin/tillsync-cloud', 'dist/package.json', 'dist/src/index.js', 'dist/src/index.d.ts',
    'dist/src/cli/main.js', 'dist/src/server/decode-worker.js', 'dist/src/terminal/pages/sync-manager.html']) {
    t.ok(files.includes(f), `${f} is packed`);
  }
  t.same(files.filter((f) => /^(src|test|scripts|bench|docs|dist\/bench)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts')), [], 'no sources, tests, scripts or benchmark tools');
  const exported = (pkg.exports['.'] as { types: string; default: string });
  for (const target of [exported.types, exported.default, pkg.types, ...Object.values(pkg.bin)]) {
    t.ok(files.includes(target.replace(/^\.\//, '')), `${target} (package.json) is in the tarball`);
  }
});

t.test('every bare import of the shipped code is a declared dependency', async (t) => {
  const declared = new Set(Object.keys(pkg.dependencies));
  const builtins = new Set(builtinModules);
  const undeclared = new Set<string>();
  for (const f of files.filter((p) => p.startsWith('dist/') && /\.(js|d\.ts)$/.test(p))) {
    const text = readFileSync(join(STAGE, f), 'utf8');
    // Statements start a line in tsc's output (a doc comment's example does not); dynamic
    // imports and the declarations' `import("…").T` may sit anywhere.
    const specs = [
      ...text.matchAll(/^(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm),
      ...text.matchAll(/^import\s+['"]([^'"]+)['"]/gm),
      ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1]!).filter((spec) => !spec.startsWith('.'));
    for (const spec of specs) {
      if (spec.startsWith('node:') || builtins.has(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (!declared.has(name)) undeclared.add(`${name} (${f})`);
    }
  }
  t.same([...undeclared], [], 'imports of packages not in package.json dependencies');
});

// A project outside the repository (so nothing resolves through the clone's node_modules), with
// the tarball unpacked as node_modules/tillsync and only the declared dependencies beside it.
const PROJECT = join(OUT, 'project');
const MODULES = join(PROJECT, 'node_modules');
mkdirSync(MODULES, { recursive: true });
execFileSync('tar', ['-xzf', join(OUT, packed[0]!.filename), '-C', MODULES]);
renameSync(join(MODULES, 'package'), join(MODULES, pkg.name));
for (const dep of [...Object.keys(pkg.dependencies), '@types/node']) {
  mkdirSync(dirname(join(MODULES, dep)), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', dep), join(MODULES, dep), 'dir');
}
writeFileSync(join(PROJECT, 'package.json'), `${JSON.stringify({ name: 'uses-tillsync', private: true, type: 'module' })}\n`);

/** The first ```js block of the README's "### Library" section. */
function libraryExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n### Library\n'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README "### Library" has no ```js example');
  return m[1]!;
}

t.test("the README's Library example runs from the packed package with plain node", async (t) => {
  const example = libraryExample();
  t.match(example, /from 'tillsync'/, 'it imports the package by name (through exports)');
  writeFileSync(join(PROJECT, 'example.mjs'), example);
  const r = spawnSync(process.execPath, ['example.mjs'], { cwd: PROJECT, env: PLAIN_ENV, encoding: 'utf8', timeout: 60_000 });
  t.equal(r.stderr, '', 'nothing on stderr');
  t.equal(r.status, 0, 'exits 0 by itself (nothing left open)');
  const expected = [...example.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1]!);
  t.ok(expected.length >= 2, 'the example says what it prints');
  t.same(r.stdout.trim().split('\n'), expected, 'and prints exactly that');
});

t.test('a TypeScript program typechecks against the shipped declarations', async (t) => {
  writeFileSync(join(PROJECT, 'check.ts'), [
    "import { build, ERRORS, MemoryStorage, Terminal, TillsyncError, type SaleReceipt, type CloudStorage } from 'tillsync';",
    "const storage: CloudStorage = new MemoryStorage();",
    "const app = build({ storage, adminToken: 'an-admin-token-of-16-chars-or-more' });",
    "const till: Terminal = await Terminal.open('/tmp/x', { store: 's', terminal: 't' });",
    "const receipt: SaleReceipt = await till.completeSale({ lines: [{ item: 'i', qty: 1 }], payments: [{ tender: 'cash', tendered: 100 }] });",
    "const total: number = receipt.total;",
    "const status: number = ERRORS.VALIDATION_FAILED.status;",
    "const err = new TillsyncError('SALE_NOT_FOUND', 'x');",
    "export { app, total, status, err };",
    // A wrong use must fail, or this check proves nothing.
    "// @ts-expect-error: not a Terminal method",
    "till.noSuchMethod();",
    '',
  ].join('\n'));
  writeFileSync(join(PROJECT, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
    files: ['check.ts'],
  }));
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/lib/tsc.js'), '-p', PROJECT], { cwd: PROJECT, env: PLAIN_ENV, encoding: 'utf8', timeout: 120_000 });
  t.equal(r.stdout + r.stderr, '', 'no type errors');
  t.equal(r.status, 0, 'tsc exits 0');
});

t.test('the packed CLI runs its compiled code with plain node', async (t) => {
  const r = spawnSync(process.execPath, [join(MODULES, pkg.name, pkg.bin.tillsync!), '--help'], { cwd: PROJECT, env: PLAIN_ENV, encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, 'tillsync --help exits 0');
  t.match(r.stdout, /Usage: tillsync/);
});

t.test('engines names the Node the code needs', async (t) => {
  // crypto.hash (src/events/codec.ts) came in 20.12; a lower floor would install and then fail.
  t.equal(pkg.engines.node, '>=20.12.0');
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  t.ok(major > 20 || (major === 20 && minor >= 12), `this node (${process.versions.node}) satisfies it`);
});
