/**
 * The terminal agent's local HTTP API for POS front ends (F3). JSON in, JSON out;
 * every route works the same offline because it only reads and appends locally.
 *
 *   GET  /api/items?q=&limit=            ranked item search
 *   GET  /api/items/scan/:barcode        exact barcode lookup
 *   GET  /api/items/:id                  one item
 *   GET  /api/customers?q=&limit=        customer search (name, phone, email)
 *   GET  /api/customers/:id              customer with account balance
 *   POST /api/customers/:id/adjust       { delta, note? } balance adjustment
 *   GET  /api/vouchers/:code             voucher balance
 *   POST /api/vouchers/:code/redeem      { amount }
 *   POST /api/vouchers/:code/issue       { amount }
 *   POST /api/sales                      SaleInput → SaleReceipt (201, after fsync)
 *   POST /api/sales/quote                { lines } → priced lines and totals, nothing stored
 *   GET  /api/sales?limit=&before=       recent sales, newest first (sale-history.ts)
 *   GET  /api/sales/:id                  the sale as this terminal knows it
 *   POST /api/sales/:id/refund           { amount, tender, customer?, voucher?, reason }
 *   POST /api/sales/:id/void             { reason }
 *
 * Who may call which route is access-control.ts's and permissions.ts's: these
 * handlers run only for an allowed caller. The one check that needs the body is
 * here: a refund above the cashier limit, and a discount or a price other
 * than the catalog's, need a manager (and are audited).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { entityId, voucherCode } from '../events/event-types.ts';
import { parseWith } from '../events/validate.ts';
import { checkPriceOverride, checkRefund } from './access-control.ts';
import { readAckSeq } from './cleanup.ts';
import { MAX_HISTORY_PAGE, recentSales } from './sale-history.ts';
import type { Terminal } from './terminal.ts';

const searchQuery = z.strictObject({
  q: z.string().max(200).default(''),
  limit: z.string().regex(/^\d{1,3}$/).transform(Number).optional(),
});
const idParam = z.strictObject({ id: entityId });
const saleParam = z.strictObject({ id: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/) });
const codeParam = z.strictObject({ code: voucherCode });
const historyQuery = z.strictObject({
  limit: z.string().regex(/^\d{1,3}$/).transform(Number).refine((n) => n >= 1 && n <= MAX_HISTORY_PAGE).optional(),
  before: z.string().regex(/^[1-9]\d{0,15}$/).transform(Number).optional(),
});
const barcodeParam = z.strictObject({ barcode: z.string().regex(/^[0-9A-Za-z-]{1,32}$/) });

function body(req: { body: unknown }): Record<string, unknown> {
  const b = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new TillsyncError('VALIDATION_FAILED', 'body must be a JSON object');
  return b as Record<string, unknown>;
}

export function registerPosRoutes(app: FastifyInstance, terminal: Terminal, policy: { refundLimit: number }): void {
  app.get('/api/items', async (req) => {
    const q = parseWith(searchQuery, req.query, 'query');
    return { items: terminal.searchItems(q.q, q.limit ?? 20) };
  });
  app.get('/api/items/scan/:barcode', async (req) => {
    const p = parseWith(barcodeParam, req.params, 'params');
    return { item: terminal.scan(p.barcode) };
  });
  app.get('/api/items/:id', async (req) => {
    const p = parseWith(idParam, req.params, 'params');
    const item = terminal.item(p.id);
    if (!item) throw new TillsyncError('ITEM_NOT_FOUND', `item ${p.id} is not in the local catalog`);
    return { item };
  });
  app.get('/api/customers', async (req) => {
    const q = parseWith(searchQuery, req.query, 'query');
    return {
      customers: terminal.searchCustomers(q.q, q.limit ?? 20).map((c) => ({ ...c, balance: terminal.customerAccount(c.id).balance })),
    };
  });
  app.get('/api/customers/:id', async (req) => {
    const p = parseWith(idParam, req.params, 'params');
    return terminal.customerAccount(p.id);
  });
  app.post('/api/customers/:id/adjust', async (req, reply) => {
    const p = parseWith(idParam, req.params, 'params');
    const b = body(req);
    const events = await terminal.adjustBalance({ ...b, customer: p.id } as never);
    return reply.code(201).send({ seq: events[0]!.seq, account: terminal.customerAccount(p.id) });
  });
  app.get('/api/vouchers/:code', async (req) => {
    const p = parseWith(codeParam, req.params, 'params');
    return terminal.voucherBalance(p.code);
  });
  app.post('/api/vouchers/:code/redeem', async (req, reply) => {
    const p = parseWith(codeParam, req.params, 'params');
    const events = await terminal.redeemVoucher({ ...body(req), voucher: p.code } as never);
    return reply.code(201).send({ seq: events[0]!.seq, ...terminal.voucherBalance(p.code) });
  });
  app.post('/api/vouchers/:code/issue', async (req, reply) => {
    const p = parseWith(codeParam, req.params, 'params');
    const events = await terminal.issueVoucher({ ...body(req), voucher: p.code } as never);
    return reply.code(201).send({ seq: events[0]!.seq, ...terminal.voucherBalance(p.code) });
  });
  app.post('/api/sales', async (req, reply) => {
    const b = body(req);
    checkPriceOverride(req, b.lines, (item) => terminal.item(item)?.price);
    const receipt = await terminal.completeSale(b as never);
    return reply.code(201).send(receipt);
  });
  app.get('/api/sales', async (req) => {
    const q = parseWith(historyQuery, req.query, 'query');
    return recentSales(
      { log: terminal.log, sale: (id) => terminal.sale(id), ackSeq: () => readAckSeq(terminal.log) },
      { limit: q.limit ?? 20, ...(q.before !== undefined ? { before: q.before } : {}) },
    );
  });
  app.post('/api/sales/quote', async (req) => terminal.quote(body(req) as never));
  app.get('/api/sales/:id', async (req) => {
    const p = parseWith(saleParam, req.params, 'params');
    const sale = await terminal.sale(p.id);
    if (!sale) throw new TillsyncError('SALE_NOT_FOUND', `sale ${p.id} is not known to this terminal`);
    return { id: p.id, ...sale };
  });
  app.post('/api/sales/:id/refund', async (req, reply) => {
    const p = parseWith(saleParam, req.params, 'params');
    const b = body(req);
    checkRefund(req, b.amount, policy.refundLimit);
    const events = await terminal.refund({ ...b, sale: p.id } as never);
    return reply.code(201).send({ seq: events[0]!.seq });
  });
  app.post('/api/sales/:id/void', async (req, reply) => {
    const p = parseWith(saleParam, req.params, 'params');
    const events = await terminal.voidSale({ ...body(req), sale: p.id } as never);
    return reply.code(201).send({ seq: events[0]!.seq });
  });
}
