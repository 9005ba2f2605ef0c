/**
 * The time-stamping authority on four in-memory replicas (workers/core/tsa.ts, tsa-routes.ts) with a
 * threshold RSA group (2 of 4): queries made by `openssl ts -query` are ordered, each replica prepares
 * the token from its own log (serial = position, genTime = the epoch's agreed time) and releases its RSA
 * share only for a query in its log; the combined reply verifies with `openssl ts -verify` against the
 * group's root and TSA certificates. Replica 3 is Byzantine (a wrong RSA key share): its shares are
 * refused as its recorded fault. Bad queries get failure replies; a reply changed in one byte fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../shared/crypto/bytes.ts';
import { decodeSignatureShare, verifyShare } from '../../shared/crypto/threshold-rsa.ts';
import { prepareTimeStampToken } from '../../shared/crypto/tsp.ts';
import { verifyTimeStampReply } from '../../shared/crypto/tsp-verify.ts';
import { TsaService } from '../../workers/core/tsa.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { parseTimeStampQuery } from '../../shared/crypto/tsp-query.ts';
import { tsaPolicyOid } from '../../shared/crypto/tsp-policy.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { testRsaGroup } from '../helpers/group.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { HAVE_OPENSSL, OpensslDir } from '../helpers/rsa-ca.ts';

const G = testRsaGroup();
const START = Date.UTC(2026, 11, 7, 12, 0, 0);

function cluster(byzantine: number | null = 3) {
  const c = hostCluster({ group: G, clockStart: START });
  const services: TsaService[] = c.hosts.map(
    (_, i) =>
      new TsaService({
        group: G.group,
        me: i,
        replicaId: G.secrets[i]!.id,
        // The Byzantine replica's share is another exponent: every share it makes fails its proof.
        share: i === byzantine ? { signer: i, s: G.secrets[i]!.rsa!.s + 1n } : G.secrets[i]!.rsa!,
        entry: (index) => c.hosts[i]!.entryAt(index),
        now: () => Date.now(),
        gatherTimeoutMs: 2000,
        get: async (to, path) => {
          if (c.down.has(to)) throw new Error('connection refused');
          const res: Response = await app(to).request(path);
          return { status: res.status, body: (await res.json()) as unknown };
        },
      }),
  );
  const app = (i: number): ReturnType<typeof c.app> => c.app(i, { tsa: services[i]! });
  /** POST /v1/tsa to replica i while the cluster runs (the answer waits for the query's position). */
  const stamp = async (i: number, query: Uint8Array, type = 'application/timestamp-query') => {
    let done = false;
    const res = Promise.resolve(app(i).request('/v1/tsa', { method: 'POST', headers: { 'content-type': type }, body: query })).finally(() => (done = true));
    while (!done) {
      await c.settle();
      await new Promise((r) => setTimeout(r, 20));
    }
    return res;
  };
  const appWith = (i: number, tsa: TsaService) => c.app(i, { tsa });
  return { ...c, services, app, appWith, stamp };
}

let dir: OpensslDir;
beforeAll(async () => {
  dir = await OpensslDir.create('tsa-routes');
  await dir.write('root-ca.pem', G.group.rsa!.rootCertificate);
  await dir.write('tsa.pem', G.group.rsa!.tsaCertificate);
});
afterAll(() => dir?.remove());

async function query(name: string, data: string, extra: string[] = ['-cert']): Promise<Uint8Array> {
  await dir.write(`${name}.txt`, data);
  await dir.ok(['ts', '-query', '-data', `${name}.txt`, '-sha256', ...extra, '-out', `${name}.tsq`]);
  return new Uint8Array(await dir.read(`${name}.tsq`));
}

describe.runIf(HAVE_OPENSSL)('POST /v1/tsa on in-memory replicas (replica 3 Byzantine in the RSA key)', () => {
  it('answers a token that openssl ts -verify accepts: serial = log position, genTime = the agreed time; the same query again gets the same bytes', async () => {
    const c = cluster();
    const q = await query('a', 'contract v1');
    const res = await c.stamp(0, q);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/timestamp-reply');
    const reply = new Uint8Array(await res.arrayBuffer());
    await dir.write('a.tsr', reply);
    expect((await dir.run(['ts', '-verify', '-queryfile', 'a.tsq', '-in', 'a.tsr', '-CAfile', 'root-ca.pem', '-untrusted', 'tsa.pem'])).stdout).toMatch(/Verification: OK/);
    const text = await dir.ok(['ts', '-reply', '-in', 'a.tsr', '-text']);
    const index = await c.hosts[0]!.indexOf(requestId(q));
    expect(text).toMatch(new RegExp(`Serial number: 0x0*${index!.toString(16)}\\b`, 'i'));
    // genTime is the agreed time of the query's epoch: within the replicas' clocks.
    const genTime = Date.parse(/Time stamp: (.*)/.exec(text)![1]!);
    const entry = await c.hosts[1]!.entryAt(index!);
    expect(Math.abs(genTime - entry!.time)).toBeLessThan(1000);
    expect(entry!.time).toBeGreaterThanOrEqual(START);
    // Our own verifier agrees, with the group's certificates.
    const policy = tsaPolicyOid(G.group.groupId);
    const parsed = parseTimeStampQuery(q, policy);
    if (!parsed.ok) throw new Error(parsed.text);
    const mine = verifyTimeStampReply(reply, { tsaCertificate: pemToDer(G.group.rsa!.tsaCertificate, 'CERTIFICATE'), query: parsed.query, policy });
    expect(mine.ok && mine.token.serial).toBe(BigInt(index!));
    expect(mine.ok && mine.token.genTime.getTime()).toBe(entry!.time);
    // Again, to another replica: the same position, the same token, byte for byte.
    const again = await c.stamp(2, q);
    expect(new Uint8Array(await again.arrayBuffer())).toEqual(reply);
    const got = await c.app(1).request(`/v1/tsa/replies/${index}`);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(reply);
    // A reply changed in one byte (in the signature, at the end) no longer verifies.
    const bad = reply.slice();
    bad[bad.length - 5]! ^= 1;
    await dir.write('bad.tsr', bad);
    expect((await dir.run(['ts', '-verify', '-queryfile', 'a.tsq', '-in', 'bad.tsr', '-CAfile', 'root-ca.pem', '-untrusted', 'tsa.pem'])).code).not.toBe(0);
  });

  it("replica 3's shares fail their proofs: recorded as its fault; with replicas 1 and 2 gone, no token (503), never a wrong one", async () => {
    const c = cluster();
    const q = await query('b', 'report 42');
    expect((await c.stamp(0, q)).status).toBe(200);
    const index = (await c.hosts[0]!.indexOf(requestId(q)))!;
    const s = (await (await c.app(3).request(`/v1/tsa/shares/${index}`)).json()) as { share: string; replica: number };
    expect(s.replica).toBe(3);
    const share = decodeSignatureShare(G.group.rsa!.publicKey, fromHex(s.share));
    const e = await c.hosts[3]!.entryAt(index);
    const prepared = (await c.services[3]!.prepare(index)) as { ok: true; prepared: ReturnType<typeof prepareTimeStampToken> };
    expect(e).toBeDefined();
    expect(verifyShare(G.group.rsa!.publicKey, prepared.prepared.digest, share)).toBe(false);
    // Replica 3 asked for the reply: its own share fails, its peers' make the token.
    const r3 = await c.app(3).request(`/v1/tsa/replies/${index}`);
    expect(r3.status).toBe(200);
    expect(c.services[3]!.faults().map((f) => f.replica)).toContain(3);
    // A fresh replica 0 service with 1 and 2 unreachable must rely on 3's share: refused, and 503.
    const lone = cluster();
    const q2 = await query('c', 'report 43');
    expect((await lone.stamp(0, q2)).status).toBe(200);
    const i2 = (await lone.hosts[0]!.indexOf(requestId(q2)))!;
    lone.down.add(1);
    lone.down.add(2);
    const fresh = new TsaService({
      group: G.group,
      me: 0,
      replicaId: G.secrets[0]!.id,
      share: G.secrets[0]!.rsa!,
      entry: (index) => lone.hosts[0]!.entryAt(index),
      now: () => Date.now(),
      gatherTimeoutMs: 1000,
      get: async (to, path) => {
        if (lone.down.has(to)) throw new Error('connection refused');
        const res = await lone.app(to).request(path);
        return { status: res.status, body: (await res.json()) as unknown };
      },
    });
    const r = await lone.appWith(0, fresh).request(`/v1/tsa/replies/${i2}`);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ error: { code: 'signature-unavailable' } });
    expect(fresh.faults()).toEqual([expect.objectContaining({ replica: 3, index: i2, reason: expect.stringContaining('does not verify') })]);
  });

  it('a query this TSA does not grant gets a rejection reply at once; nothing is ordered', async () => {
    const c = cluster();
    const sha1 = await query('d', 'x', ['-sha1']);
    const r = await c.app(0).request('/v1/tsa', { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: sha1 });
    expect(r.status).toBe(200);
    await dir.write('d.tsr', new Uint8Array(await r.arrayBuffer()));
    expect(await dir.ok(['ts', '-reply', '-in', 'd.tsr', '-text'])).toMatch(/Status: Rejected[\s\S]*unrecognized or unsupported algorithm/);
    const junk = await c.app(0).request('/v1/tsa', { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: new Uint8Array([0x30, 0x03, 1, 2]) });
    await dir.write('e.tsr', new Uint8Array(await junk.arrayBuffer()));
    expect(await dir.ok(['ts', '-reply', '-in', 'e.tsr', '-text'])).toMatch(/Status: Rejected/);
    await c.hosts[0]!.init();
    expect(c.hosts[0]!.logSize).toBe(0);
    expect(await c.hosts[0]!.status(requestId(sha1))).toBeNull();
    const json = await c.app(0).request('/v1/tsa', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(415);
    const share = await c.app(0).request('/v1/tsa/shares/0');
    expect(share.status).toBe(404);
    expect(await share.json()).toMatchObject({ error: { code: 'not-ordered' } });
  });

  it('a group without a threshold RSA key has no TSA: 404 no-rsa-key', async () => {
    const plain = hostCluster();
    const r = await plain.app(0).request('/v1/tsa', { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: await query('f', 'y') });
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ error: { code: 'no-rsa-key' } });
  });
});
