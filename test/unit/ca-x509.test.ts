/**
 * X.509 requests to the CA (shared/app/ca.ts x509): a PKCS #10 request whose subject is CN=name and whose
 * key is the name's current Ed25519 directory key is accepted with the certificate's serial (log position
 * + 1) and validity (from the agreed time of the request's epoch to the end of the name's validity, at most
 * the root's, in whole seconds); everything else is refused with a stable code and changes nothing. What
 * the answer fixes is enough to build the certificate: a threshold RSA signature of the group makes one
 * that node:crypto verifies under the root.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, decodeResponse, encodeCaRequest, registerRequest, revokeRequest } from '../../shared/app/ca.ts';
import type { CaRequest, CaResponse } from '../../shared/app/ca.ts';
import { MapAppState } from '../../shared/app/types.ts';
import { toBase64, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { parseCsr } from '../../shared/crypto/csr.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { combineShares, signShare } from '../../shared/crypto/threshold-rsa.ts';
import { assembleCertificate, certificateToPem, prepareCertificate } from '../../shared/crypto/x509-issue.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { buildCsr, cn } from '../helpers/csr-build.ts';
import { testRsaGroup } from '../helpers/group.ts';

const G = testRsaGroup();
const gid = G.group.groupId;
const ROOT = pemToDer(G.group.rsa!.rootCertificate, 'CERTIFICATE');
const seed = (who: string) => sha256(utf8ToBytes(`ca-x509 test: ${who}`));
const ALICE = seed('alice');
const BOB = seed('bob');
const T0 = Date.UTC(2026, 5, 1, 12, 0, 0, 250);
const time = (e: number) => T0 + e * 1000;

/** node:crypto's key object for an Ed25519 seed (PKCS #8: the fixed RFC 8410 prefix, then the seed). */
const keyObject = (secret: Uint8Array) =>
  createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(secret)]), format: 'der', type: 'pkcs8' });
const csrOf = (name: string, secret: Uint8Array) => buildCsr({ key: keyObject(secret), subject: cn(name), hash: null });
const x509 = (name: string, csr: Uint8Array, nonce = '01'): CaRequest => ({ op: 'x509', name, csr: toBase64(csr), nonce });

function ca(withRoot = true) {
  const app = new CertificateAuthority({ groupId: gid, ...(withRoot ? { rootCertificate: ROOT } : {}) });
  const state = new MapAppState();
  let index = 0;
  const apply = (r: CaRequest, epoch: number): CaResponse => decodeResponse(app.apply(encodeCaRequest(r), { index: index++, epoch, time: time(epoch) }, state)!);
  return { app, state, apply, digest: () => app.digest(state) };
}

describe('X.509 requests to the CA', () => {
  it("accepts the holder's CSR: serial = position + 1, valid from the epoch's agreed time to the record's end, whole seconds; no state change", () => {
    const c = ca();
    const reg = c.apply(registerRequest(gid, 'alice', ALICE, 1000), 0);
    expect(reg.ok).toBe(true);
    const before = c.digest();
    const r = c.apply(x509('alice', csrOf('alice', ALICE)), 1);
    expect(r).toEqual({ app: 'ca', op: 'x509', ok: true, index: 1, x509: { name: 'alice', serial: 2, notBefore: Math.floor(time(1) / 1000) * 1000, notAfter: Math.floor((time(0) + 1_000_000) / 1000) * 1000 } });
    expect(c.digest()).toEqual(before);

    // The answer is all it takes: 2 of 4 RSA shares of the TBS it determines make a certificate the root verifies.
    if (!r.ok || !('x509' in r)) throw new Error('not an x509 answer');
    const prepared = prepareCertificate({ csr: parseCsr(csrOf('alice', ALICE)), serial: BigInt(r.x509.serial), notBefore: new Date(r.x509.notBefore), notAfter: new Date(r.x509.notAfter), issuer: ROOT });
    const pk = G.group.rsa!.publicKey;
    const shares = [0, 1].map((i) => signShare(pk, G.secrets[i]!.rsa!, prepared.digest, seededRandom(`share ${i}`)));
    const cert = new X509Certificate(certificateToPem(assembleCertificate(prepared.tbsDer, combineShares(pk, prepared.digest, shares).signature, pk)));
    expect(cert.verify(new X509Certificate(G.group.rsa!.rootCertificate).publicKey)).toBe(true);
    expect(cert.subject).toBe('CN=alice');
    expect(cert.serialNumber).toBe('02');
    expect(new Date(cert.validFrom).getTime()).toBe(r.x509.notBefore);
  });

  it('refuses, with stable codes and no state change: another key, another name, junk, unregistered, revoked, expired, no root', () => {
    const c = ca();
    c.apply(registerRequest(gid, 'alice', ALICE, 1000), 0);
    c.apply(registerRequest(gid, 'bob', BOB, 1), 0);
    const digest = c.digest();
    const code = (r: CaResponse) => (r.ok ? 'ok' : r.error.code);
    expect(code(c.apply(x509('alice', csrOf('alice', BOB)), 1))).toBe('bad-csr'); // bob's key, alice's name
    expect(code(c.apply(x509('alice', csrOf('bob', ALICE)), 1))).toBe('bad-csr'); // CN=bob
    expect(code(c.apply(x509('alice', utf8ToBytes('not a csr at all')), 1))).toBe('bad-csr');
    expect(code(c.apply(x509('carol', csrOf('carol', ALICE)), 1))).toBe('not-found');
    // bob's certificate was valid for one second from epoch 0's time: at epoch 2 it has expired.
    expect(code(c.apply(x509('bob', csrOf('bob', BOB)), 2))).toBe('expired');
    expect(c.apply(revokeRequest(gid, 'alice', 1, ALICE), 3).ok).toBe(true);
    const revoked = c.digest();
    expect(code(c.apply(x509('alice', csrOf('alice', ALICE), '02'), 4))).toBe('revoked');
    expect(c.digest()).toEqual(revoked);
    expect(revoked).not.toEqual(digest);
    const noRoot = ca(false);
    noRoot.apply(registerRequest(gid, 'alice', ALICE, 1000), 0);
    expect(code(noRoot.apply(x509('alice', csrOf('alice', ALICE)), 1))).toBe('no-rsa-key');
  });

  it('the request codec: exact fields, canonical base64, a nonce of 1-32 bytes', () => {
    const ok = encodeCaRequest(x509('alice', csrOf('alice', ALICE)));
    expect(new TextDecoder().decode(ok)).toMatch(/^\{"app":"ca","v":1,"op":"x509","name":"alice","csr":"[A-Za-z0-9+/=]+","nonce":"01"\}$/);
    expect(() => encodeCaRequest({ ...x509('alice', csrOf('alice', ALICE)), nonce: '' } as CaRequest)).toThrow(/nonce/);
    expect(() => encodeCaRequest({ ...x509('alice', csrOf('alice', ALICE)), csr: 'a b' } as CaRequest)).toThrow(/csr/);
  });
});
