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
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { entityId, voucherCode } from '../events/event-types.ts';
import { checkPriceOverride, checkRefund } from './access-control.ts';
import { readAckSeq } from './cleanup.ts';
import { adjustInput, quoteInput, refundInput, saleInput, voidInput, voucherAmountInput } from './sale-input.ts';
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

/** Route bodies: the terminal's own input schemas, less the field the path names. */
const adjustBody = adjustInput.omit({ customer: true });
const voucherBody = voucherAmountInput.omit({ voucher: true });
const refundBody = refundInput.omit({ sale: true });
const voidBody = voidInput.omit({ sale: true });

const S = <T extends object>(summary: string, parts: T = {} as T) => ({ summary, tags: ['pos'], ...parts });

export const posRoutes: FastifyPluginAsync<{ terminal: Terminal; refundLimit: number }> = async (plain, { terminal, refundLimit }) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  app.get('/api/items', { schema: S('Ranked item search', { querystring: searchQuery }) }, async (req) => ({ items: terminal.searchItems(req.query.q, req.query.limit ?? 20) }));
  app.get('/api/items/scan/:barcode', { schema: S('Exact barcode lookup', { params: barcodeParam }) }, async (req) => ({ item: terminal.scan(req.params.barcode) }));
  app.get('/api/items/:id', { schema: S('One item', { params: idParam }) }, async (req) => {
    const item = terminal.item(req.params.id);
    if (!item) throw new TillsyncError('ITEM_NOT_FOUND', `item ${req.params.id} is not in the local catalog`);
    return { item };
  });
  app.get('/api/customers', { schema: S('Customer search (name, phone, email)', { querystring: searchQuery }) }, async (req) => ({
    customers: terminal.searchCustomers(req.query.q, req.query.limit ?? 20).map((c) => ({ ...c, balance: terminal.customerAccount(c.id).balance })),
  }));
  app.get('/api/customers/:id', { schema: S('A customer with its account balance', { params: idParam }) }, async (req) => terminal.customerAccount(req.params.id));
  app.post('/api/customers/:id/adjust', { schema: S('Adjust a customer\'s balance (manager)', { params: idParam, body: adjustBody }) }, async (req, reply) => {
    const events = await terminal.adjustBalance({ ...req.body, customer: req.params.id } as never); // re-parsed by the terminal
    return reply.code(201).send({ seq: events[0]!.seq, account: terminal.customerAccount(req.params.id) });
  });
  app.get('/api/vouchers/:code', { schema: S('A voucher\'s balance', { params: codeParam }) }, async (req) => terminal.voucherBalance(req.params.code));
  app.post('/api/vouchers/:code/redeem', { schema: S('Redeem from a voucher', { params: codeParam, body: voucherBody }) }, async (req, reply) => {
    const events = await terminal.redeemVoucher({ ...req.body, voucher: req.params.code });
    return reply.code(201).send({ seq: events[0]!.seq, ...terminal.voucherBalance(req.params.code) });
  });
  app.post('/api/vouchers/:code/issue', { schema: S('Issue a voucher (manager)', { params: codeParam, body: voucherBody }) }, async (req, reply) => {
    const events = await terminal.issueVoucher({ ...req.body, voucher: req.params.code });
    return reply.code(201).send({ seq: events[0]!.seq, ...terminal.voucherBalance(req.params.code) });
  });
  app.post('/api/sales', { schema: S('Complete a sale: answered after fsync', { body: saleInput }) }, async (req, reply) => {
    checkPriceOverride(req, req.body.lines, (item) => terminal.item(item)?.price);
    const receipt = await terminal.completeSale(req.body);
    return reply.code(201).send(receipt);
  });
  app.get('/api/sales', { schema: S('Recent sales, newest first', { querystring: historyQuery }) }, async (req) => {
    const q = req.query;
    return recentSales(
      { log: terminal.log, sale: (id) => terminal.sale(id), ackSeq: () => readAckSeq(terminal.log) },
      { limit: q.limit ?? 20, ...(q.before !== undefined ? { before: q.before } : {}) },
    );
  });
  app.post('/api/sales/quote', { schema: S('Price lines and totals; nothing is stored', { body: quoteInput }) }, async (req) => terminal.quote(req.body));
  app.get('/api/sales/:id', { schema: S('A sale as this terminal knows it', { params: saleParam }) }, async (req) => {
    const sale = await terminal.sale(req.params.id);
    if (!sale) throw new TillsyncError('SALE_NOT_FOUND', `sale ${req.params.id} is not known to this terminal`);
    return { id: req.params.id, ...sale };
  });
  app.post('/api/sales/:id/refund', { schema: S('Refund (above the cashier limit: a manager)', { params: saleParam, body: refundBody }) }, async (req, reply) => {
    checkRefund(req, req.body.amount, refundLimit);
    const events = await terminal.refund({ ...req.body, sale: req.params.id });
    return reply.code(201).send({ seq: events[0]!.seq });
  });
  app.post('/api/sales/:id/void', { schema: S('Void a sale (manager)', { params: saleParam, body: voidBody }) }, async (req, reply) => {
    const events = await terminal.voidSale({ ...req.body, sale: req.params.id });
    return reply.code(201).send({ seq: events[0]!.seq });
  });
};
