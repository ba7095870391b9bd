/**
 * The one error registry of tillsync.
 *
 * Every failure a caller can see has a stable UPPER_SNAKE `code`. Messages may
 * change between versions; codes never do. Each code has an HTTP status (used by
 * the terminal agent and the cloud) and a one-line hint saying what to do, which
 * the CLI prints. `test/errors.test.ts` checks that every code here is documented
 * in README.md and that README documents nothing that is not here.
 */

export const ERRORS = {
  // --- bad input (events, sales, wire) ---
  VALIDATION_FAILED: { status: 400, hint: 'Fix the request: a field is missing, has the wrong type, or is not allowed.' },
  UNKNOWN_FIELD: { status: 400, hint: 'Remove the field: only documented fields are accepted.' },
  UNKNOWN_EVENT_TYPE: { status: 400, hint: 'Use one of the documented event types.' },
  UNSUPPORTED_SCHEMA_VERSION: { status: 400, hint: 'Upgrade the sender: this event schema version is not supported.' },
  MONEY_NOT_INTEGER: { status: 400, hint: 'Send money as an integer number of cents.' },
  NEGATIVE_AMOUNT: { status: 400, hint: 'This amount or quantity must not be negative.' },
  AMOUNT_TOO_LARGE: { status: 400, hint: 'This amount or quantity is above its documented upper bound (README, "Card data and limits").' },
  FULL_CARD_NUMBER: { status: 400, hint: 'Never send a card number: send the processor token, brand and last 4 digits only.' },
  CVV_REJECTED: { status: 400, hint: 'Never send a card security code (CVV/CVC).' },
  FORBIDDEN_KEY: { status: 400, hint: 'Keys named __proto__, constructor or prototype are not accepted.' },
  MSGPACK_MALFORMED: { status: 400, hint: 'The body is not valid msgpack.' },
  JSON_MALFORMED: { status: 400, hint: 'The body is not valid JSON.' },
  PAYLOAD_TOO_LARGE: { status: 413, hint: 'Send smaller batches.' },
  NESTING_TOO_DEEP: { status: 400, hint: 'The payload nests too deeply.' },
  BATCH_TOO_LARGE: { status: 413, hint: 'Send fewer events per batch.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, hint: 'Send application/msgpack or application/json.' },
  // --- sales and stored value ---
  EMPTY_SALE: { status: 400, hint: 'Add at least one line to the sale.' },
  SALE_TOTAL_MISMATCH: { status: 400, hint: 'The sale totals do not add up from its lines.' },
  PAYMENT_MISMATCH: { status: 400, hint: 'Payments must cover the total exactly; only cash may exceed it (change is given).' },
  CHANGE_NOT_CASH: { status: 400, hint: 'Only a cash payment can give change.' },
  ITEM_NOT_FOUND: { status: 404, hint: 'Scan or search again: this item is not in the local catalog.' },
  CUSTOMER_NOT_FOUND: { status: 404, hint: 'Look the customer up again: not in the local customer list.' },
  VOUCHER_NOT_FOUND: { status: 404, hint: 'Check the voucher code: it is not known to this terminal.' },
  SALE_NOT_FOUND: { status: 404, hint: 'Check the sale id: this terminal has no such sale.' },
  EXPORT_NOT_FOUND: { status: 404, hint: 'Pick an export from the Sync Manager\'s list: this terminal has no export of that name.' },
  SALE_ALREADY_VOIDED: { status: 409, hint: 'This sale was already voided.' },
  SALE_ALREADY_REFUNDED: { status: 409, hint: 'A sale with refunds cannot be voided: refund the rest instead.' },
  REFUND_EXCEEDS_SALE: { status: 409, hint: 'Refund at most what is left of the sale.' },
  INSUFFICIENT_BALANCE: { status: 409, hint: 'The customer account does not hold enough credit.' },
  INSUFFICIENT_VOUCHER: { status: 409, hint: 'The voucher does not hold enough value.' },
  OFFLINE_STORED_VALUE_FORBIDDEN: { status: 409, hint: 'Store policy forbids account credit and vouchers while offline: take another tender.' },
  OFFLINE_STORED_VALUE_CAP: { status: 409, hint: 'Over the store\'s offline cap for account credit and vouchers: take another tender for the rest.' },
  // --- event log ---
  LOG_CORRUPTED: { status: 500, hint: 'The local log failed verification or lost acknowledged events; appends are refused. Keep the data folder as it is (never delete or wipe it: its unsynced sales exist nowhere else), run `tillsync audit`, then `tillsync recover --from-cloud` for what the cloud holds, and call support.' },
  LOG_BEHIND_CLOUD: { status: 409, hint: 'The cloud holds more of this terminal\'s history than its log (a restored backup?): run `tillsync recover --from-cloud` before selling.' },
  LOG_CLOSED: { status: 503, hint: 'The terminal is shutting down or not started.' },
  LOG_LOCKED: { status: 503, hint: 'Another process holds this data folder: stop it first.' },
  STORAGE_FAILED: { status: 503, hint: 'The disk write failed; nothing was acknowledged. Check the disk and retry.' },
  DISK_FULL: { status: 507, hint: 'The terminal\'s disk is full: free space on it (remove other files; `tillsync cleanup` once the agent runs), then retry — sales resume by themselves. Nothing was acknowledged that is not on disk; never delete the data folder.' },
  DATA_DIR_NOT_PRIVATE: { status: 500, hint: 'The data folder is open to other users and could not be made private (0700): fix its owner or mode.' },
  WRONG_STORE: { status: 400, hint: 'This data folder belongs to another store or terminal.' },
  ALREADY_ENROLLED: { status: 409, hint: 'This data folder is enrolled already: start it without --token/--cloud; change its credential or cloud only with `tillsync reenroll` (agent stopped).' },
  // --- cloud: auth, tenancy, replication ---
  UNAUTHORIZED: { status: 401, hint: 'Send a valid credential: Authorization: Bearer <token>.' },
  CREDENTIAL_REVOKED: { status: 401, hint: 'This terminal credential was revoked: re-enroll the terminal to get a new one.' },
  FORBIDDEN: { status: 403, hint: 'This credential may not access that store, terminal or route.' },
  NOT_FOUND: { status: 404, hint: 'No such route or resource.' },
  STORE_NOT_FOUND: { status: 404, hint: 'Create the store first (tillsync admin store create).' },
  TERMINAL_NOT_FOUND: { status: 404, hint: 'Create the terminal first (tillsync admin terminal create).' },
  EXCEPTION_NOT_FOUND: { status: 404, hint: 'List open exceptions to get a valid id.' },
  ALREADY_EXISTS: { status: 409, hint: 'Pick another id: one with this id exists already.' },
  NOT_A_TEST_STORE: { status: 409, hint: 'tillsync loadtest runs only against a store it created as a test store: pass a new --store id (it is created marked as one).' },
  UPLOAD_TOO_SLOW: { status: 408, hint: 'The upload body arrived slower than the cloud\'s minimum rate and was cut: check the link; the sync worker retries.' },
  RATE_LIMITED: { status: 429, hint: 'Too many requests from this terminal credential: retry after the Retry-After delay.' },
  CLOUD_BUSY: { status: 503, hint: 'The cloud is busy with other uploads: retry after the Retry-After delay (the sync worker does).' },
  SEQ_GAP: { status: 409, hint: 'Resend from the expected seq given in details.expectedSeq.' },
  CHAIN_BROKEN: { status: 409, hint: 'The event\'s prev hash does not match the stored chain: run `tillsync audit` on that terminal; keep its data folder (it may hold unsynced sales) and call support.' },
  EVENT_CONFLICT: { status: 409, hint: 'An event with this id is stored with different content; the stored one is kept.' },
  WRONG_TERMINAL: { status: 403, hint: 'Events must belong to the store and terminal of the credential.' },
  IMPORT_INVALID: { status: 400, hint: 'Fix the rows reported by line number; nothing was imported.' },
  PROTOCOL_VERSION_UNSUPPORTED: { status: 400, hint: 'Upgrade the terminal: the cloud does not speak this protocol version.' },
  NOT_CANONICAL: { status: 400, hint: 'Send each event as its canonical msgpack bytes (sorted keys), exactly as the terminal hashed them.' },
  CURRENCY_MISMATCH: { status: 409, hint: 'The sale is in another currency than the store\'s; the event is kept in quarantine.' },
  STORAGE_CLOSED: { status: 503, hint: 'The cloud is shutting down or its storage is not open: retry shortly.' },
  DB_UNREACHABLE: { status: 503, hint: 'The cloud cannot reach its PostgreSQL database: check the --db / TILLSYNC_DB URL and that the server is up.' },
  DB_SCHEMA_TOO_NEW: { status: 500, hint: 'The cloud database was written by a newer tillsync: upgrade tillsync (it never downgrades a database).' },
  INTERNAL_ERROR: { status: 500, hint: 'An unexpected server error: retry; if it persists, report it quoting the requestId of the answer (the server log lines of that request carry it).' },
  // --- terminal agent and sync ---
  CLOUD_UNREACHABLE: { status: 503, hint: 'The cloud cannot be reached: the terminal keeps selling offline and syncs later.' },
  AGENT_UNREACHABLE: { status: 503, hint: 'Start the terminal agent (tillsync terminal) or pass --agent with its URL.' },
  LOCAL_MODE: { status: 409, hint: 'Local mode is on: turn it off to talk to the cloud.' },
  UNSYNCED_EVENTS: { status: 409, hint: 'Unsynced sales must reach the cloud first; bring the cloud back or use the export override.' },
  RESYNC_VERIFY_FAILED: { status: 502, hint: 'The re-downloaded data does not match the cloud: run the full resync again, then call support.' },
  OPERATION_IN_PROGRESS: { status: 409, hint: 'Wait for the running operation to finish.' },
  OPERATION_INTERRUPTED: { status: 409, hint: 'The operation was cut short (the agent stopped or was killed): run it again; a full resync carries on by itself at start.' },
  CLOUD_BAD_RESPONSE: { status: 502, hint: 'The cloud answered with something this terminal cannot read: check versions; sync retries by itself.' },
  CLOUD_REFUSED: { status: 502, hint: 'The cloud refused the request with an error this terminal does not know: see the message and the cloud log.' },
  DAY_NOT_RECONCILED: { status: 409, hint: 'The day does not match the cloud: sync up (tillsync sync up), check the seqs named in details (tillsync audit), then close the day again.' },
  DAY_NOT_CLOSED: { status: 404, hint: 'That day has no Z report on this terminal: close it first (tillsync close-day --day YYYY-MM-DD).' },
  DAY_NOT_AVAILABLE: { status: 409, hint: 'Cleanup removed part of that day from this terminal: verify the day against the cloud (tillsync audit --report FILE --cloud URL).' },
  REPORT_TAMPERED: { status: 409, hint: 'The day report was edited after it was made: use the copy kept in the terminal\'s reports folder or the cloud.' },
  REPORT_MISMATCH: { status: 409, hint: 'The history no longer adds up to the day report: run `tillsync audit` on that terminal and call support.' },
  SYNC_ABORTED: { status: 503, hint: 'Sync was stopped or restarted while this request ran: trigger it again.' },
  // --- terminal agent: who may call (local API, pages, status stream) ---
  AUTH_REQUIRED: { status: 401, hint: 'Sign in on the page (staff ID and PIN); the CLI and front ends send the agent\'s pairing token (DATA/agent-token: --agent-token-file or TILLSYNC_AGENT_TOKEN_FILE).' },
  SIGN_IN_FAILED: { status: 401, hint: 'Check the staff ID and PIN and try again.' },
  SIGN_IN_LOCKED: { status: 429, hint: 'Too many wrong PINs for this staff ID: wait for the Retry-After delay, or ask a manager.' },
  FORBIDDEN_ROLE: { status: 403, hint: 'Ask a manager: this action needs the manager role (refunds above the cashier limit too).' },
  BAD_HOST: { status: 403, hint: 'Open the agent (or the cloud dashboard) by its own address (127.0.0.1, localhost, [::1], its --host or the cloud\'s --public-host): other host names are refused.' },
  BAD_ORIGIN: { status: 403, hint: 'Only the agent\'s (or the cloud dashboard\'s) own pages may call its API: requests from other web sites are refused.' },
} as const satisfies Record<string, { status: number; hint: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class TillsyncError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Structured facts about the failure (expected vs actual, path of a bad field, ...). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TillsyncError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = options.details;
  }

  get hint(): string {
    return ERRORS[this.code].hint;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export function isTillsyncError(err: unknown, code?: ErrorCode): err is TillsyncError {
  return err instanceof TillsyncError && (code === undefined || err.code === code);
}
