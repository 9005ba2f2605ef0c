/**
 * The CA routes (workers/core/ca-routes.ts) on in-memory replica hosts: a request posted to one replica is
 * ordered and answered on all, every replica serves directory statements that verify offline, and after a
 * restart (journal replay, or a snapshot) a replica still serves verifying statements: the per-epoch app
 * digests and the CA's responses are rebuilt from the log. Bad input changes nothing.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { encodeCaRequest, registerRequest, revokeRequest, verifyDirectoryStatement } from '../../shared/app/ca.ts';
import { encodeStampEntry } from '../../shared/app/notary.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { testGroup } from '../helpers/group.ts';

const { group, secrets } = testGroup(4);
const ALICE = new Uint8Array(32).fill(3);

function cluster(compactAfter?: number) {
  const c = hostCluster(compactAfter ? { compactAfter } : {});
  return { hosts: c.hosts, settle: c.settle, app: (i: number) => c.app(i), restart: c.restart };
}

const json = async (r: Response | Promise<Response>) => (await (await r).json()) as any;
const postCa = (app: ReturnType<typeof replicaApp>, body: unknown) =>
  app.request('/v1/ca/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('CA routes on in-memory replicas', () => {
  for (const compactAfter of [undefined, 5]) {
    it(`register, lookups on every replica, revoke; the same after a restart (${compactAfter ? 'from a snapshot' : 'journal replay'})`, async () => {
      const c = cluster(compactAfter);
      const reg = registerRequest(group.groupId, 'alice', ALICE, 100);
      const p = await postCa(c.app(0), { request: reg });
      expect(p.status).toBe(202);
      const { id } = await json(p);
      expect(id).toBe(requestId(encodeCaRequest(reg)));
      await c.settle();
      // Later epochs move the live state on; the statements still come from the latest signed checkpoint.
      for (const s of ['x', 'y']) {
        await c.hosts[1]!.submit(encodeStampEntry({ digest: toHex(sha256(utf8ToBytes(s))) }));
        await c.settle();
      }
      const before: unknown[] = [];
      for (let i = 0; i < 4; i++) {
        const st = await json(c.app(i).request('/v1/ca/names/alice'));
        expect(verifyDirectoryStatement(group, st)).toMatchObject({ ok: true, status: 'active' });
        expect(verifyDirectoryStatement(group, await json(c.app(i).request('/v1/ca/names/bob')))).toMatchObject({ ok: true, status: 'absent' });
        const q = await json(c.app(i).request(`/v1/ca/requests/${id}`));
        expect(q).toMatchObject({ id, status: 'certified', response: { ok: true, op: 'register', certificate: { name: 'alice', serial: 1 } } });
        before.push(st);
      }
      // Refused for good, before ordering: the name is taken.
      const dup = await postCa(c.app(2), { request: registerRequest(group.groupId, 'alice', new Uint8Array(32).fill(4), 100) });
      expect(dup.status).toBe(409);
      expect((await json(dup)).error.code).toBe('name-taken');
      // The same bytes again: already in the log.
      const again = await postCa(c.app(3), { request: reg });
      expect(again.status).toBe(200);
      expect(await json(again)).toMatchObject({ id, status: 'ordered' });

      if (compactAfter) expect(c.hosts.every((h) => h.metrics().compactions > 0)).toBe(true);
      for (let i = 0; i < 4; i++) c.restart(i);
      for (let i = 0; i < 4; i++) {
        expect(await json(c.app(i).request('/v1/ca/names/alice'))).toEqual(before[i]);
        expect((await json(c.app(i).request(`/v1/ca/requests/${id}`))).response).toMatchObject({ ok: true, op: 'register' });
      }
      // The restarted group keeps going: revoke, then every replica shows it revoked.
      expect((await postCa(c.app(1), { request: revokeRequest(group.groupId, 'alice', 1, ALICE) })).status).toBe(202);
      await c.settle();
      for (let i = 0; i < 4; i++) expect(verifyDirectoryStatement(group, await json(c.app(i).request('/v1/ca/names/alice')))).toMatchObject({ ok: true, status: 'revoked' });
    }, 120_000);
  }

  it('bad input: stable codes, nothing submitted; lookups before any checkpoint are 409', async () => {
    const c = cluster();
    const app = c.app(0);
    expect((await json(app.request('/v1/ca/names/alice'))).error.code).toBe('not-certified');
    const good = registerRequest(group.groupId, 'carol', ALICE, 10);
    const tooLong = registerRequest(group.groupId, 'carol', ALICE, 400_000_000);
    const cases: [unknown, number, string][] = [
      ['{', 400, 'malformed-json'],
      [{ request: good, more: 1 }, 400, 'bad-request'],
      [{ request: 'x' }, 400, 'bad-request'],
      [{ request: { ...good, op: 'burn' } }, 400, 'unknown-op'],
      [{ request: { ...good, name: '-x' } }, 400, 'bad-name'],
      [{ request: { ...good, key: 'ab' } }, 400, 'bad-key'],
      [{ request: { ...good, validFor: -1 } }, 400, 'bad-validity'],
      [{ request: { ...good, validFor: 2_000_000 } }, 400, 'bad-signature'], // pop covers validFor
      [{ request: tooLong }, 202, ''], // over the CA's maximum, but that is the CA's judgement, after ordering
      [{ request: { ...good, pop: '00'.repeat(64) } }, 400, 'bad-signature'],
      [{ request: { op: 'revoke', name: 'carol', serial: 0, sig: '00'.repeat(64) } }, 400, 'bad-request'],
    ];
    for (const [body, status, code] of cases) {
      const r = await postCa(app, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      if (code) expect((await json(r)).error.code, JSON.stringify(body)).toBe(code);
    }
    expect(c.hosts[0]!.metrics().engine.pending).toBe(1);
    expect((await app.request('/v1/ca/requests', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })).status).toBe(415);
    expect((await json(app.request('/v1/ca/names/UPPER'))).error.code).toBe('bad-name');
    expect((await json(app.request('/v1/ca/requests/abc'))).error.code).toBe('bad-id');
    expect((await json(app.request(`/v1/ca/requests/${'0'.repeat(64)}`))).error.code).toBe('unknown-request');
    // The over-long validity, once ordered, is the CA's refusal (and not a registration).
    await c.settle();
    const id = requestId(encodeCaRequest(tooLong));
    expect((await json(app.request(`/v1/ca/requests/${id}`))).response).toMatchObject({ ok: false, error: { code: 'bad-validity' } });
    expect(verifyDirectoryStatement(group, await json(app.request('/v1/ca/names/carol')))).toMatchObject({ ok: true, status: 'absent' });
    // A plain (non-CA) entry has no CA response.
    const plain = await c.hosts[0]!.submit(utf8ToBytes('plain'));
    await c.settle();
    expect((await json(app.request(`/v1/ca/requests/${plain.ok ? plain.id : ''}`))).error.code).toBe('not-ca-request');
  }, 60_000);
});
