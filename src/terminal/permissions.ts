/**
 * Which role each agent route needs, and which routes are privileged (every
 * call of those, allowed or refused, goes into the audit log with who made it).
 *
 * Roles are ordered: a manager may do everything a cashier may. A cashier
 * sells, looks up, redeems vouchers, triggers a sync and refunds up to the
 * configured limit (pos-routes checks the amount). Everything that changes how
 * the terminal syncs, removes data, mints value, or exports history is for a
 * manager (or the technician's pairing token). A route not listed here needs a
 * manager: a new route is closed until someone opens it on purpose. A path that
 * matches no route at all only needs a signed-in caller (it answers NOT_FOUND).
 */
import type { Role } from './staff-accounts.ts';

export interface RoutePermission {
  role: Role;
  /** Set for privileged routes: the action name written into the audit log. */
  action?: string;
}

const cashier: RoutePermission = { role: 'cashier' };
const manager = (action: string): RoutePermission => ({ role: 'manager', action });

/** `METHOD route-pattern` → permission. */
export const PERMISSIONS: Readonly<Record<string, RoutePermission>> = {
  'GET /api/status': cashier,
  'GET /api/status/stream': cashier,
  'GET /api/openapi.json': cashier,
  'GET /api/metrics': cashier,
  'GET /api/errors': cashier,
  'GET /api/session': cashier,
  'DELETE /api/session': cashier,
  'GET /api/items': cashier,
  'GET /api/items/scan/:barcode': cashier,
  'GET /api/items/:id': cashier,
  'GET /api/customers': cashier,
  'GET /api/customers/:id': cashier,
  'GET /api/vouchers/:code': cashier,
  'POST /api/vouchers/:code/redeem': cashier,
  'POST /api/sales': cashier,
  'POST /api/sales/quote': cashier,
  'GET /api/sales': cashier,
  'GET /api/sales/:id': cashier,
  'POST /api/sales/:id/refund': cashier,
  'POST /api/sync/up': cashier,
  'POST /api/sync/down': cashier,

  'POST /api/local-mode': manager('local-mode'),
  'POST /api/resync/full': manager('resync.full'),
  'POST /api/restore': manager('restore'),
  'POST /api/resync/force': manager('resync.force'),
  'POST /api/cleanup': manager('cleanup'),
  'POST /api/audit': manager('audit'),
  'GET /api/replay': manager('replay'),
  'GET /api/exports': { role: 'manager' },
  'GET /api/exports/:name': manager('export.download'),
  'POST /api/credential': manager('credential'),
  'POST /api/vouchers/:code/issue': manager('voucher.issue'),
  'POST /api/customers/:id/adjust': manager('balance.adjust'),
  'POST /api/sales/:id/void': manager('sale.void'),
  'GET /api/staff': { role: 'manager' },
  'PUT /api/staff/:id': manager('staff.set'),
  'GET /api/pairings': { role: 'manager' },
  'POST /api/pairings': manager('pairing.issue'),
  'DELETE /api/pairings/:id': manager('pairing.revoke'),
  'GET /api/audit-log': { role: 'manager' },
  'GET /api/recovery': cashier,
  'POST /api/recover': manager('recover'),
  'GET /api/support-bundle': manager('support-bundle'),
  'POST /api/support-bundle/send': manager('support-bundle.send'),
  'POST /api/day-report': cashier,
  'GET /api/day-reports/:day': cashier,
  'GET /api/day-summary': cashier,
  'POST /api/close-day': manager('close-day'),
};

const CLOSED: RoutePermission = { role: 'manager' };

export function permissionFor(method: string, route: string | undefined): RoutePermission {
  if (route === undefined) return cashier;
  return PERMISSIONS[`${method} ${route}`] ?? CLOSED;
}

export function roleAllows(have: Role, need: Role): boolean {
  return have === 'manager' || need === 'cashier';
}
