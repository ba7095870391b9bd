#!/usr/bin/env node
// The `tillsync` CLI. Installed from a package it runs the compiled code in
// dist/ (`npm run build`, done by `npm pack` through prepack) with plain node.
// In a clone, where the TypeScript sources and tsx (a devDependency: `npm ci`
// installs it) are present, it runs the sources through tsx's loader instead,
// so a build left over from an earlier checkout never runs in place of the code
// being edited (the tests run the CLI this way). TILLSYNC_DIST=dist (or another
// build folder) runs a build from a clone.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, resolve } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const sources = join(root, 'src/cli/main.ts');
const compiled = join(process.env.TILLSYNC_DIST ? resolve(process.env.TILLSYNC_DIST) : join(root, 'dist'), 'src/cli/main.js');

async function tsxLoader() {
  if (process.env.TILLSYNC_DIST || !existsSync(sources)) return undefined;
  try {
    return await import('tsx/esm/api');
  } catch {
    return undefined; // a clone installed with --omit=dev: run the build if there is one
  }
}

const tsx = await tsxLoader();
if (tsx) {
  tsx.register();
  await import(pathToFileURL(sources).href);
} else if (existsSync(compiled)) {
  await import(pathToFileURL(compiled).href);
} else {
  console.error(`tillsync: ${compiled} not found: run 'npm run build' (or 'npm ci' in a clone, to run the sources through tsx)`);
  process.exitCode = 2;
}
