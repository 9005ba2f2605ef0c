/**
 * X.509 issuance on four in-memory replicas (workers/core/x509.ts, x509-routes.ts) with a threshold RSA
 * group (2 of 4): alice registers an Ed25519 key in the directory, makes a CSR for it with
 * `openssl req`, and POST /v1/ca/x509 answers a certificate that `openssl verify -CAfile root-ca.pem`
 * accepts (serial = the request's log position + 1, valid from the agreed time). Replica 3 is Byzantine
 * (a wrong RSA key share): its shares fail their proofs and are recorded as its faults. A CSR for another
 * key is refused by the CA at its place in the order (409), a certificate changed in one byte fails, and a
 * revoked name gets no certificate.
 */
import { createPrivateKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerRequest, revokeRequest } from '../../shared/app/ca.ts';
import type { CaRequest } from '../../shared/app/ca.ts';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { X509Service } from '../../workers/core/x509.ts';
import { testRsaGroup } from '../helpers/group.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { HAVE_OPENSSL, OpensslDir } from '../helpers/rsa-ca.ts';

const G = testRsaGroup();
const gid = G.group.groupId;
const seed = (who: string) => sha256(utf8ToBytes(`x509-routes test: ${who}`));
const ALICE = seed('alice');
const MALLORY = seed('mallory');
const pkcs8Pem = (secret: Uint8Array) =>
  createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(secret)]), format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;

function cluster() {
  const c = hostCluster({ group: G, clockStart: Date.now() });
  const services: X509Service[] = c.hosts.map(
    (_, i) =>
      new X509Service({
        group: G.group,
        me: i,
        replicaId: G.secrets[i]!.id,
        share: i === 3 ? { signer: 3, s: G.secrets[3]!.rsa!.s + 1n } : G.secrets[i]!.rsa!,
        entry: (index) => c.hosts[i]!.entryAt(index),
        response: (index) => c.hosts[i]!.responseAt(index, 'ca'),
        now: () => Date.now(),
        gatherTimeoutMs: 2000,
        get: async (to, path) => {
          const res: Response = await app(to).request(path);
          return { status: res.status, body: (await res.json()) as unknown };
        },
      }),
  );
  const app = (i: number): ReturnType<typeof c.app> => c.app(i, { x509: services[i]! });
  /** A request to replica i while the cluster runs (POSTs wait for their place in the order). */
  const call = async (i: number, path: string, init?: RequestInit) => {
    let done = false;
    const res = Promise.resolve(app(i).request(path, init)).finally(() => (done = true));
    while (!done) {
      await c.settle();
      await new Promise((r) => setTimeout(r, 10));
    }
    return res;
  };
  const ca = (r: CaRequest) => call(0, '/v1/ca/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request: r }) });
  const issue = (i: number, body: unknown) => call(i, '/v1/ca/x509', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { ...c, services, app, call, ca, issue };
}

let dir: OpensslDir;
beforeAll(async () => {
  dir = await OpensslDir.create('x509-routes');
  await dir.write('root-ca.pem', G.group.rsa!.rootCertificate);
  await dir.write('alice.pem', pkcs8Pem(ALICE));
  await dir.write('mallory.pem', pkcs8Pem(MALLORY));
  await dir.ok(['req', '-new', '-key', 'alice.pem', '-subj', '/CN=alice', '-out', 'alice.csr']);
  await dir.ok(['req', '-new', '-key', 'mallory.pem', '-subj', '/CN=alice', '-out', 'mallory.csr']);
});
afterAll(() => dir?.remove());

describe.runIf(HAVE_OPENSSL)('POST /v1/ca/x509 on in-memory replicas (replica 3 Byzantine in the RSA key)', () => {
  it('issues a certificate openssl verifies under the root; the Byzantine share is refused; another key, a changed byte, a revoked name fail', async () => {
    const c = cluster();
    expect((await c.ca(registerRequest(gid, 'alice', ALICE, 100_000))).status).toBe(202);
    await c.settle();
    const res = await c.issue(3, { csr: await dir.readText('alice.csr') });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pem-certificate-chain');
    const index = Number(res.headers.get('sintra-log-index'));
    const pem = await res.text();
    await dir.write('alice.crt', pem);
    expect((await dir.run(['verify', '-CAfile', 'root-ca.pem', 'alice.crt'])).stdout).toMatch(/alice\.crt: OK/);
    const text = await dir.ok(['x509', '-in', 'alice.crt', '-noout', '-serial', '-subject', '-startdate']);
    expect(text).toContain(`serial=${(index + 1).toString(16).toUpperCase().padStart(2, '0')}`);
    expect(text).toMatch(/subject=CN\s?=\s?alice/);
    // Replica 3 asked for it: its own share failed its proof (its fault), its peers' made the certificate.
    expect(c.services[3]!.faults().map((f) => f.replica)).toContain(3);
    // Every replica serves the same certificate for that position.
    expect(await (await c.call(1, `/v1/ca/x509/${index}`)).text()).toBe(pem);
    // A byte changed in the signature: openssl refuses it.
    const der = await dir.ok(['x509', '-in', 'alice.crt', '-outform', 'DER', '-out', 'alice.der']);
    expect(der).toBe('');
    const bytes = new Uint8Array(await dir.read('alice.der'));
    bytes[bytes.length - 4]! ^= 1;
    await dir.write('bad.der', bytes);
    await dir.ok(['x509', '-inform', 'DER', '-in', 'bad.der', '-out', 'bad.crt']);
    expect((await dir.run(['verify', '-CAfile', 'root-ca.pem', 'bad.crt'])).code).not.toBe(0);

    // Mallory's CSR names alice but holds another key: ordered, refused by the CA (409 bad-csr).
    const m = await c.issue(0, { csr: await dir.readText('mallory.csr') });
    expect(m.status).toBe(409);
    expect(await m.json()).toMatchObject({ error: { code: 'bad-csr' } });
    // Revoked: no certificate any more.
    expect((await c.ca(revokeRequest(gid, 'alice', 1, ALICE))).status).toBe(202);
    await c.settle();
    const r = await c.issue(2, { csr: await dir.readText('alice.csr'), nonce: '02' });
    expect(r.status).toBe(409);
    expect(await r.json()).toMatchObject({ error: { code: 'revoked' } });
    // Shares only for accepted x509 requests.
    expect((await c.call(0, `/v1/ca/x509/shares/${index + 1}`)).status).toBe(404);
  });

  it('refuses before ordering what no state can cure: not a CSR, a CN other than the name, a non-Ed25519 key', async () => {
    const c = cluster();
    const bad = async (body: unknown, code: string) => {
      const r = await c.issue(0, body);
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: { code } });
    };
    await bad({ csr: 'not a csr' }, 'bad-csr');
    await bad({ csr: await dir.readText('alice.csr'), name: 'bob' }, 'bad-csr');
    await dir.ok(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ec.key', '-subj', '/CN=alice', '-out', 'ec.csr']);
    await bad({ csr: await dir.readText('ec.csr') }, 'bad-csr');
    await c.hosts[0]!.init();
    expect(c.hosts[0]!.logSize).toBe(0);
  });
});
