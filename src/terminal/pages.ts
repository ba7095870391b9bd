/**
 * Serves the Sync Manager (/) and the checkout page (/checkout): plain HTML,
 * CSS and JS files shipped in src/terminal/pages, no build step. Read once at
 * startup; only these fixed names are served (no path from the request touches
 * the file system).
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const FILES: Array<[route: string, file: string, type: string]> = [
  ['/', 'sync-manager.html', 'text/html; charset=utf-8'],
  ['/checkout', 'checkout.html', 'text/html; charset=utf-8'],
  ['/assets/app.css', 'app.css', 'text/css; charset=utf-8'],
  ['/assets/common.js', 'common.js', 'text/javascript; charset=utf-8'],
  ['/assets/sync-manager.js', 'sync-manager.js', 'text/javascript; charset=utf-8'],
  ['/assets/checkout.js', 'checkout.js', 'text/javascript; charset=utf-8'],
];

export function registerPages(app: FastifyInstance): void {
  for (const [route, file, type] of FILES) {
    const body = readFileSync(new URL(`./pages/${file}`, import.meta.url));
    app.get(route, async (_req, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }
}
