// Remembered terminal credentials (src/server/auth.ts): a revocation is seen by
// the very next request, even when a credential read was in flight across it.
import t, { type Test } from 'tap';
import { build } from '../../src/server/app.ts';
import { MemoryStorage } from '../../src/server/memory-storage.ts';
import type { CredentialRecord } from '../../src/server/storage.ts';
import { waitFor } from '../helpers/wait.ts';
import { ADMIN, admin, get, setupStore } from './harness.ts';

/** Counts credential reads, and can hold them until released. */
class WatchedStorage extends MemoryStorage {
  reads = 0;
  hold: Promise<void> | undefined;
  override async getCredential(tokenHash: string): Promise<CredentialRecord | undefined> {
    this.reads++;
    const found = await super.getCredential(tokenHash);
    if (this.hold) await this.hold;
    return found;
  }
}

/** A cloud over WatchedStorage with store s1 and terminals t1, t2. */
async function watchedCloud(t: Test) {
  const storage = new WatchedStorage();
  const app = build({ storage, adminToken: ADMIN });
  t.teardown(() => app.close());
  await app.ready();
  const { tokens } = await setupStore(t, app);
  return { storage, app, tokens };
}

t.test('a valid credential is read once; revoking and reissuing are seen at once', async (t) => {
  const { storage, app, tokens } = await watchedCloud(t);
  const before = storage.reads;
  for (let i = 0; i < 5; i++) t.equal((await get(app, tokens.t1!, '/v1/sync-state')).status, 200);
  t.equal(storage.reads - before, 1, 'five requests, one credential read');

  const reissued = await admin(app, 'POST', '/v1/admin/stores/s1/terminals/t1/token');
  t.equal(reissued.status, 201);
  t.equal((await get(app, tokens.t1!, '/v1/sync-state')).body.error.code, 'CREDENTIAL_REVOKED', 'the old token, remembered before, is refused');
  t.equal((await get(app, reissued.body.token, '/v1/sync-state')).status, 200, 'the new one works');
  t.equal((await admin(app, 'POST', '/v1/admin/stores/s1/terminals/t1/revoke')).status, 200);
  t.equal((await get(app, reissued.body.token, '/v1/sync-state')).body.error.code, 'CREDENTIAL_REVOKED');
  t.equal((await get(app, tokens.t2!, '/v1/sync-state')).status, 200, 'other terminals are unaffected');
});

t.test('a credential read in flight across a revocation is not remembered', async (t) => {
  const { storage, app, tokens } = await watchedCloud(t);
  let release!: () => void;
  storage.hold = new Promise<void>((resolve) => (release = resolve));
  const readsBefore = storage.reads;
  const inFlight = get(app, tokens.t1!, '/v1/sync-state'); // reads the credential (still valid), then waits
  await waitFor(() => storage.reads !== readsBefore, { what: 'the in-flight request to read the credential', intervalMs: 1 });
  storage.hold = undefined;
  t.equal((await admin(app, 'POST', '/v1/admin/stores/s1/terminals/t1/revoke')).status, 200);
  release();
  t.equal((await inFlight).status, 200, 'the request that started before the revocation passes');
  t.equal((await get(app, tokens.t1!, '/v1/sync-state')).body.error.code, 'CREDENTIAL_REVOKED', 'the next one is refused');
});
