/**
 * `parseEvent` and `parseDraft` run a hand-written fast path before the zod
 * schemas. The fast path must be invisible: for every input, valid or not,
 * the result is the same value with the same key order (so the canonical bytes
 * and hashes are the same), or the same error code. Seeded random mutations of
 * fixture events (every event type) compared against the schema-only paths.
 */
import t, { type Test } from 'tap';
import { GENESIS_HASH } from '../../src/events/codec.ts';
import { fullPathsForTests, parseChange, parseDraft, parseEvent } from '../../src/events/validate.ts';
import { createRng, seedFromEnv, type Rng } from '../../src/fixtures/prng.ts';
import { mutate, sampleDrafts } from '../helpers/mutations.ts';

type Outcome = { ok: true; json: string } | { ok: false; code: string };

function outcome(fn: () => unknown): Outcome {
  try {
    return { ok: true, json: JSON.stringify(fn()) };
  } catch (err) {
    return { ok: false, code: String((err as { code?: unknown }).code ?? 'NOT_A_TILLSYNC_ERROR') };
  }
}

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay: SEED=${seed})`);

/**
 * 3,000 inputs (every fourth unmutated, the rest with 1–3 mutations): the fast
 * and the schema-only path must give the same outcome for each.
 */
function compareOnMutations(t: Test, rng: Rng, samples: ReadonlyArray<Record<string, unknown>>, fast: (v: unknown) => unknown, full: (v: unknown) => unknown, what: string): void {
  let accepted = 0;
  let refused = 0;
  let mismatches = 0;
  for (let i = 0; i < 3000; i++) {
    const input = structuredClone(rng.pick(samples));
    const rounds = i % 4 === 0 ? 0 : rng.int(1, 3);
    for (let r = 0; r < rounds; r++) mutate(input, rng);
    const a = outcome(() => fast(structuredClone(input)));
    const b = outcome(() => full(structuredClone(input)));
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      mismatches++;
      if (mismatches <= 5) t.fail('fast and schema paths differ', { input: JSON.stringify(input), fast: a, full: b });
    }
    if (b.ok) accepted++;
    else refused++;
  }
  t.equal(mismatches, 0, 'no input where they differ');
  t.ok(accepted > 750, `valid ${what} exercised (${accepted})`);
  t.ok(refused > 750, `invalid ${what} exercised (${refused})`);
}

t.test('parseDraft: fast path and schema path agree on valid and mutated drafts', async (t) => {
  const drafts = sampleDrafts(seed) as unknown as Array<Record<string, unknown>>;
  compareOnMutations(t, createRng(seed), drafts, (v) => parseDraft(v as never), (v) => fullPathsForTests.parseDraft(v as never), 'drafts');
});

t.test('parseEvent: fast path and schema path agree on valid and mutated events', async (t) => {
  const events = sampleDrafts(seed).map((d, i) => ({
    id: d.id ?? '01HZX3K8Q9V7D2M4N6P8R0S2T4', type: d.type, v: 1, store: 's1', terminal: 't1', seq: i + 1,
    time: d.time ?? 1_700_000_000_000, prev: GENESIS_HASH, body: d.body,
  }));
  compareOnMutations(t, createRng(seed + 1), events, parseEvent, fullPathsForTests.parseEvent, 'events');
});

t.test('parseChange: fast path and schema path agree on valid and mutated feed changes', async (t) => {
  const changes: Array<Record<string, unknown>> = [
    { cursor: 1, type: 'balance.state', body: { customer: 'c-1', balance: 9700, includes: { t1: 3, 'till-02': 0 } } },
    { cursor: 2, type: 'balance.state', body: { customer: 'c-2', balance: -250, includes: {} } },
    { cursor: 3, type: 'voucher.state', body: { voucher: 'GIFT-1', balance: 4000, includes: { t1: 12 } } },
    { cursor: 4, type: 'voucher.state', body: { voucher: 'V-9999', balance: 0, includes: { 't.3': 5, t_4: 1 } } },
    { cursor: 5, type: 'item.removed', body: { id: 'i1' } },
    { cursor: 8, type: 'customer.upserted', body: { id: 'c-1', name: 'Ann Lee' } },
    { cursor: 9, type: 'customer.upserted', body: { id: 'c-2', name: 'Bo', phone: '+49 30 1234567', email: 'bo@example.com' } },
    { cursor: 10, type: 'customer.upserted', body: { id: 'c-3', name: 'Cy', email: 'cy@example.com' } },
    // A key the card-data guard looks at: the fast path leaves it to the full one.
    { cursor: 6, type: 'balance.state', body: { customer: 'c-3', balance: 1, includes: { Number: 2 } } },
  ];
  compareOnMutations(t, createRng(seed + 2), changes, parseChange, fullPathsForTests.parseChange, 'changes');
  t.throws(() => parseChange({ cursor: 7, type: 'balance.state', body: { customer: 'c', balance: 1, includes: { cvv: 1 } } }), { code: 'CVV_REJECTED' });
});
