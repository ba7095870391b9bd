/**
 * Serves the Sync Manager (/), the checkout page (/checkout) and the staff
 * sign-in (/sign-in): plain HTML, CSS and JS files shipped in
 * src/terminal/pages, no build step. Read once at startup; only these fixed
 * names are served (no path from the request touches the file system).
 *
 * The two working pages need a signed-in staff member: without a session they
 * redirect to /sign-in (which comes back to the page after the sign-in). The
 * files hold no data; everything a page shows comes from the authenticated API.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';

const FILES: Array<[route: string, file: string, type: string, signedIn: boolean]> = [
  ['/', 'sync-manager.html', 'text/html; charset=utf-8', true],
  ['/checkout', 'checkout.html', 'text/html; charset=utf-8', true],
  ['/sign-in', 'sign-in.html', 'text/html; charset=utf-8', false],
  ['/assets/app.css', 'app.css', 'text/css; charset=utf-8', false],
  ['/assets/common.js', 'common.js', 'text/javascript; charset=utf-8', false],
  ['/assets/sync-manager.js', 'sync-manager.js', 'text/javascript; charset=utf-8', false],
  ['/assets/checkout.js', 'checkout.js', 'text/javascript; charset=utf-8', false],
  ['/assets/recovery-tools.js', 'recovery-tools.js', 'text/javascript; charset=utf-8', false],
  ['/assets/cart-checks.js', 'cart-checks.js', 'text/javascript; charset=utf-8', false],
  ['/assets/sale-history.js', 'sale-history.js', 'text/javascript; charset=utf-8', false],
  ['/assets/sign-in.js', 'sign-in.js', 'text/javascript; charset=utf-8', false],
  ['/favicon.svg', 'favicon.svg', 'image/svg+xml', false],
];

export function registerPages(app: FastifyInstance, auth: { signedIn: (headers: IncomingHttpHeaders) => boolean }): void {
  for (const [route, file, type, signedIn] of FILES) {
    const body = readFileSync(new URL(`./pages/${file}`, import.meta.url));
    app.get(route, async (req, reply) => {
      if (signedIn && !auth.signedIn(req.headers)) {
        return reply.code(303).header('location', `/sign-in?next=${encodeURIComponent(route)}`).header('cache-control', 'no-store').send();
      }
      return reply.type(type).header('cache-control', 'no-cache').send(body);
    });
  }
}
