/**
 * What a host remembers of the requests it took (to answer `pending` before they are ordered) is forgotten
 * once they are in the log, plain or encrypted, also after a restart that replays the journal: it grew by
 * one id per request for good (about 32 bytes per entry per replica, found by infra/bench/memory-hosts.ts).
 */
import { describe, expect, it } from 'vitest';
import { encryptRequest } from '../../shared/client/encrypt.ts';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

describe('requests a host took', () => {
  it('are remembered while pending and forgotten once ordered (plain and encrypted), after a restart too', async () => {
    const c = hostCluster();
    const enc = encryptRequest(c.group, utf8ToBytes('sealed'), 'taken', seededRandom('taken'));
    const r = await c.hosts[0]!.submitMany([
      ...Array.from({ length: 20 }, (_, i) => ({ bytes: utf8ToBytes(`taken ${i}`), encrypted: false })),
      { bytes: enc.ciphertext, encrypted: true },
    ]);
    expect(r.every((x) => x.ok)).toBe(true);
    expect(c.hosts[0]!.metrics().submitted).toBe(21);
    expect(await c.hosts[0]!.status(enc.ciphertextId)).toMatchObject({ status: 'pending' });
    await c.settle();
    expect(await c.hosts[0]!.status(enc.ciphertextId)).toMatchObject({ status: 'certified', plaintextId: enc.plaintextId });
    expect(c.hosts.map((h) => h.metrics().submitted)).toEqual([0, 0, 0, 0]);
    // A restart replays the journal (submits included) and forgets the same way.
    c.restart(0);
    await c.hosts[0]!.init();
    expect(c.hosts[0]!.metrics().submitted).toBe(0);
  }, 120_000);
});
