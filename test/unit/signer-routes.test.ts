/**
 * The signing service (shared/app/signer.ts, workers/core/signer.ts, signer-routes.ts) on four in-memory
 * replica hosts: a client's request posted to one replica is ordered, accepted by the policy on every
 * replica, and each replica serves the same group signature, which verifies offline (our verifier and
 * plain noble BLS with the DST) with the receipt of its log entry; a Byzantine replica's bad shares are
 * recorded and change nothing; a request the policy refuses (ordered by going around the route's check, as
 * a Byzantine replica could) gets no share from any honest replica, so no signature; policy changes need
 * the administrators; the policy statement verifies; bad input has stable codes.
 */
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { describe, expect, it } from 'vitest';
import { policyMessageBytes, signRequest } from '../../shared/app/signer.ts';
import { parseSignerPolicy } from '../../shared/app/signer-policy.ts';
import type { SignerPolicy } from '../../shared/app/signer-policy.ts';
import { fromBase64, fromHex, toBase64, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { encodeG2 } from '../../shared/crypto/curve.ts';
import { ed25519PublicKey, ed25519Signer } from '../../shared/crypto/ed25519.ts';
import { verifyPolicyStatement, verifySignatureDocument } from '../../shared/client/signer.ts';
import { SignService } from '../../workers/core/signer.ts';
import { hostSignerLedger } from '../../workers/core/signer-routes.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { testGroup, testSignerGroup } from '../helpers/group.ts';

const seed = (k: number): Uint8Array => new Uint8Array(32).fill(k);
const pk = (k: number): string => toHex(ed25519PublicKey(seed(k)));
const signer = (k: number) => ed25519Signer(seed(k));

const POLICY: SignerPolicy = parseSignerPolicy({
  version: 1,
  admins: { threshold: 2, keys: { alice: pk(1), bob: pk(2), carol: pk(3) } },
  clients: { ci: { publicKey: pk(10) }, web: { publicKey: pk(11) } },
  purposes: { release: { clients: ['ci'], maxMessageBytes: 1024 } },
});
const G = testSignerGroup(POLICY);
const { group } = G;

type Tamper = (body: { id: string; replica: number; share: string }) => unknown;

function cluster(byzantine: Map<number, Tamper> = new Map(), T = G) {
  const c = hostCluster({ group: T });
  const services: SignService[] = c.hosts.map(
    (_, i) =>
      new SignService({
        group: T.group,
        me: i,
        replicaId: T.secrets[i]!.id,
        share: T.secrets[i]!.kernel,
        ...(T.secrets[i]!.signerRsa ? { rsaShare: T.secrets[i]!.signerRsa } : {}),
        ledger: { outcome: (id) => hostSignerLedger(c.hosts[i]!).outcome(id), entry: (index) => hostSignerLedger(c.hosts[i]!).entry(index) },
        now: () => Date.now(),
        gatherTimeoutMs: 2000,
        get: async (to, path) => {
          const res = await app(to).request(path);
          const body = (await res.json()) as { id: string; replica: number; share: string };
          const bad = byzantine.get(to);
          if (bad && res.status === 200) return { status: 200, body: bad(body) };
          return { status: res.status, body };
        },
      }),
  );
  const app = (i: number) => c.app(i, { signer: services[i]! });
  return { ...c, services, app };
}

const json = async (r: Response | Promise<Response>) => (await (await r).json()) as any;
const post = (app: { request: (p: string, i: RequestInit) => Response | Promise<Response> }, path: string, body: unknown) =>
  app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

function signBody(client: string, k: number, purpose: string, message: Uint8Array, nonce?: string) {
  const entry = JSON.parse(new TextDecoder().decode(signRequest(group.groupId, client, purpose, message, signer(k), nonce))) as Record<string, string>;
  const { app: _a, op: _o, ...body } = entry;
  return body;
}

describe('signing service on in-memory replicas', () => {
  it('orders a request, and every replica serves one group signature that verifies offline with its receipt', async () => {
    const c = cluster();
    const message = utf8ToBytes('release v1.2.3 sha256=abcd');
    const r = await post(c.app(0), '/v1/sign', signBody('ci', 10, 'release', message));
    expect(r.status).toBe(202);
    const { id } = await json(r);
    await c.settle();
    // A second epoch so that a checkpoint covers the entry everywhere.
    await c.settle();
    const docs = [];
    for (let i = 0; i < 4; i++) {
      const res = await c.app(i).request(`/v1/sign/${id}`);
      expect(res.status).toBe(200);
      const doc = await json(res);
      expect(doc).toMatchObject({ format: 'sintra-edge/signature@1', id, purpose: 'release', client: 'ci', message: toBase64(message) });
      expect(verifySignatureDocument(group, doc, { requireReceipt: true, message })).toMatchObject({ ok: true, logged: true, purpose: 'release' });
      docs.push(doc);
    }
    expect(new Set(docs.map((d) => d.signature)).size).toBe(1);
    // Plain BLS (min-sig: G1 signature, G2 key) with the DST verifies it too: no framing of ours.
    const sig = bls12_381.shortSignatures.Signature.fromBytes(fromHex(docs[0].signature));
    const point = bls12_381.shortSignatures.hash(message, docs[0].dst);
    const key = bls12_381.G2.Point.fromBytes(encodeG2(group.kernel.groupKey));
    expect(bls12_381.shortSignatures.verify(sig, point, key)).toBe(true);
    // Altered in one byte, or for another purpose: refused.
    const flip = (hex: string) => hex.slice(0, 10) + (hex[10] === '0' ? '1' : '0') + hex.slice(11);
    expect(verifySignatureDocument(group, { ...docs[0], signature: flip(docs[0].signature) }).ok).toBe(false);
    const otherMessage = toBase64(utf8ToBytes('release v9.9.9 sha256=abcd'));
    expect(verifySignatureDocument(group, { ...docs[0], message: otherMessage }).ok).toBe(false);
    expect(verifySignatureDocument(group, { ...docs[0], purpose: 'token' }).ok).toBe(false);
    expect(verifySignatureDocument(testGroup(4).group, docs[0]).ok).toBe(false);
    // The same request again: already ordered.
    const again = await post(c.app(2), '/v1/sign', signBody('ci', 10, 'release', message));
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ id, status: 'ordered' });
  }, 120_000);

  it("a Byzantine replica's bad shares are recorded and change nothing", async () => {
    const bad: Tamper = (b) => ({ ...b, share: b.share.slice(0, 20) + (b.share[20] === 'a' ? 'b' : 'a') + b.share.slice(21) });
    const c = cluster(new Map([[3, bad]]));
    const message = utf8ToBytes('token for user 42');
    const { id } = await json(post(c.app(1), '/v1/sign', signBody('ci', 10, 'release', message)));
    await c.settle();
    const sigs = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const doc = await json(c.app(i).request(`/v1/sign/${id}`));
      expect(verifySignatureDocument(group, doc, { message }).ok).toBe(true);
      sigs.add(doc.signature);
    }
    expect(sigs.size).toBe(1);
    const faults = c.services.slice(0, 3).flatMap((s) => s.faults());
    expect(faults.length).toBeGreaterThan(0);
    expect(faults.every((f) => f.replica === 3)).toBe(true);
  }, 120_000);

  it('refused requests get no share from any honest replica, so no signature, even when ordered', async () => {
    const c = cluster();
    // The route refuses before ordering what the policy in force refuses.
    const web = await post(c.app(0), '/v1/sign', signBody('web', 11, 'release', utf8ToBytes('x')));
    expect(web.status).toBe(403);
    const refusal = (await json(web)).error;
    expect(refusal).toMatchObject({ code: 'refused' });
    expect(refusal.message).toMatch(/^not-allowed/);
    expect((await json(post(c.app(0), '/v1/sign', signBody('ci', 11, 'release', utf8ToBytes('x'))))).error.message).toMatch(/^bad-signature/);
    // A Byzantine replica orders it anyway (its own host, no route check): every replica refuses it.
    const entry = signRequest(group.groupId, 'web', 'release', utf8ToBytes('x'), signer(11));
    const s = await c.hosts[3]!.submit(entry);
    expect(s.ok).toBe(true);
    const id = (s as { id: string }).id;
    await c.settle();
    for (let i = 0; i < 4; i++) {
      const share = await c.app(i).request(`/v1/sign/shares/${id}`);
      expect(share.status).toBe(403);
      expect((await json(share)).error.code).toBe('refused');
      const doc = await c.app(i).request(`/v1/sign/${id}`);
      expect(doc.status).toBe(403);
    }
    // A request nobody ordered: no share either.
    const unknown = toHex(new Uint8Array(32).fill(9));
    expect((await json(c.app(0).request(`/v1/sign/shares/${unknown}`))).error.code).toBe('not-ordered');
    expect((await c.app(0).request(`/v1/sign/${unknown}`)).status).toBe(404);
  }, 120_000);

  it('changes the policy with enough administrators; the policy statement verifies', async () => {
    const c = cluster();
    expect((await json(c.app(0).request('/v1/sign/policy'))).error.code).toBe('not-certified');
    const next = parseSignerPolicy({ ...JSON.parse(JSON.stringify(POLICY)), version: 2, purposes: { release: { clients: ['ci', 'web'], maxMessageBytes: 1024 } } });
    const m = policyMessageBytes(group.groupId, next);
    const one = { policy: next, sigs: { alice: toHex(signer(1)(m)) } };
    const two = { policy: next, sigs: { alice: toHex(signer(1)(m)), carol: toHex(signer(3)(m)) } };
    expect((await post(c.app(0), '/v1/sign/policy', { ...two, policy: { ...next, version: 3 } })).status).toBe(409);
    expect((await json(post(c.app(0), '/v1/sign/policy', { ...two, policy: { ...next, admins: 'x' } }))).error.code).toBe('bad-policy');
    // One signature is ordered (the app decides) and refused there.
    const weak = await json(post(c.app(0), '/v1/sign/policy', one));
    await c.settle();
    expect(await json(c.app(1).request(`/v1/requests/${weak.id}`))).toMatchObject({ status: 'certified' });
    expect((await post(c.app(0), '/v1/sign', signBody('web', 11, 'release', utf8ToBytes('y')))).status).toBe(403);
    const st1 = await json(c.app(2).request('/v1/sign/policy'));
    expect(verifyPolicyStatement(group, st1)).toMatchObject({ ok: true, policy: { version: 1 } });
    const ok = await post(c.app(1), '/v1/sign/policy', two);
    expect(ok.status).toBe(202);
    await c.settle();
    await c.settle();
    for (let i = 0; i < 4; i++) expect(verifyPolicyStatement(group, await json(c.app(i).request('/v1/sign/policy')))).toMatchObject({ ok: true, policy: { version: 2 } });
    // A statement altered to show another policy does not verify.
    const st2 = await json(c.app(0).request('/v1/sign/policy'));
    expect(verifyPolicyStatement(group, { ...st2, policy: POLICY }).ok).toBe(false);
    // web may now sign releases.
    const r = await post(c.app(3), '/v1/sign', signBody('web', 11, 'release', utf8ToBytes('y')));
    expect(r.status).toBe(202);
    const { id } = await json(r);
    await c.settle();
    expect(verifySignatureDocument(group, await json(c.app(0).request(`/v1/sign/${id}`))).ok).toBe(true);
  }, 120_000);

  it('bad input: stable codes; a group without a signer answers no-signer', async () => {
    const c = cluster();
    const good = signBody('ci', 10, 'release', utf8ToBytes('m'));
    const cases: [unknown, number, string][] = [
      ['{', 400, 'malformed-json'],
      [{ ...good, more: 1 }, 400, 'bad-request'],
      [{ ...good, message: 'not base64!' }, 400, 'bad-request'],
      [{ ...good, purpose: 'Bad' }, 400, 'bad-request'],
      [{ ...good, sig: 'ab' }, 400, 'bad-request'],
      [{ ...good, message: toBase64(utf8ToBytes('n')) }, 403, 'refused'],
    ];
    for (const [body, status, code] of cases) {
      const r = await post(c.app(0), '/v1/sign', body);
      expect([r.status, (await json(r)).error.code]).toEqual([status, code]);
    }
    expect((await json(c.app(0).request('/v1/sign/xyz'))).error.code).toBe('bad-id');
    // Nothing was ordered: no epoch ran.
    await c.settle();
    expect(c.hosts[0]!.executedSize()).toBe(0);
    const plain = hostCluster();
    const none = await post(plain.app(0), '/v1/sign', good);
    expect([none.status, (await json(none)).error.code]).toEqual([404, 'no-signer']);
    expect(fromBase64(good['message']!)).toEqual(utf8ToBytes('m'));
  }, 60_000);
});

describe('RSA purposes: the signing service\'s own threshold RSA key', () => {
  const RSA_POLICY: SignerPolicy = parseSignerPolicy({
    ...JSON.parse(JSON.stringify(POLICY)),
    purposes: {
      release: { clients: ['ci'], maxMessageBytes: 1024 },
      code: { clients: ['ci'], maxMessageBytes: 1024, scheme: 'rsa-pkcs1-sha256' },
      'code-pss': { clients: ['ci'], maxMessageBytes: 1024, scheme: 'rsa-pss-sha256' },
    },
  });
  const R = testSignerGroup(RSA_POLICY, 4, 1, 'signer-rsa', { rsa: true });

  const rsaCluster = (byzantine: Map<number, Tamper> = new Map()) => cluster(byzantine, R);

  it('signs with RSASSA-PKCS1-v1_5 SHA-256 that node:crypto and openssl verify with the served public key; bad shares are skipped', async () => {
    const { createPublicKey, verify } = await import('node:crypto');
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const bad: Tamper = (b) => ({ ...b, share: b.share.slice(0, 30) + (b.share[30] === 'a' ? 'b' : 'a') + b.share.slice(31) });
    const c = rsaCluster(new Map([[2, bad]]));
    const entry = JSON.parse(new TextDecoder().decode(signRequest(R.group.groupId, 'ci', 'code', utf8ToBytes('app-1.0.tar.gz sha256=ab12'), signer(10)))) as Record<string, string>;
    const { app: _a, op: _o, ...body } = entry;
    const { id } = await json(post(c.app(0), '/v1/sign', body));
    await c.settle();
    await c.settle();
    const pem = await (await c.app(1).request('/v1/sign/rsa.pem')).text();
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const key = createPublicKey(pem);
    const message = utf8ToBytes('app-1.0.tar.gz sha256=ab12');
    const docs = [];
    for (const i of [0, 1, 3]) {
      const doc = await json(c.app(i).request(`/v1/sign/${id}`));
      expect(doc).toMatchObject({ scheme: 'rsa-pkcs1-sha256', dst: null, purpose: 'code' });
      expect(verifySignatureDocument(R.group, doc, { requireReceipt: true, message })).toMatchObject({ ok: true, scheme: 'rsa-pkcs1-sha256' });
      expect(verify('sha256', message, key, fromHex(doc.signature))).toBe(true);
      docs.push(doc);
    }
    expect(new Set(docs.map((d) => d.signature)).size).toBe(1);
    expect(c.services.slice(0, 2).flatMap((s) => s.faults()).every((f) => f.replica === 2)).toBe(true);
    expect(c.services[0]!.faults().length + c.services[1]!.faults().length + c.services[3]!.faults().length).toBeGreaterThan(0);
    // openssl, as docs/signer.md says.
    const dir = mkdtempSync(join(tmpdir(), 'signer-rsa-'));
    try {
      writeFileSync(join(dir, 'key.pem'), pem);
      writeFileSync(join(dir, 'msg'), message);
      writeFileSync(join(dir, 'sig'), fromHex(docs[0].signature));
      expect(execFileSync('openssl', ['dgst', '-sha256', '-verify', join(dir, 'key.pem'), '-signature', join(dir, 'sig'), join(dir, 'msg')]).toString()).toMatch(/Verified OK/);
      writeFileSync(join(dir, 'msg'), utf8ToBytes('app-1.0.tar.gz sha256=ab13'));
      expect(() => execFileSync('openssl', ['dgst', '-sha256', '-verify', join(dir, 'key.pem'), '-signature', join(dir, 'sig'), join(dir, 'msg')], { stdio: 'pipe' })).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // RSA-PSS: the salt derived from the request id, so every replica's share encodes the same message.
    const { constants } = await import('node:crypto');
    const pssEntry = JSON.parse(new TextDecoder().decode(signRequest(R.group.groupId, 'ci', 'code-pss', message, signer(10)))) as Record<string, string>;
    const { app: _pa, op: _po, ...pssBody } = pssEntry;
    const pssId = (await json(post(c.app(3), '/v1/sign', pssBody))).id;
    await c.settle();
    const pssDocs = [];
    for (const i of [0, 1, 3]) pssDocs.push(await json(c.app(i).request(`/v1/sign/${pssId}`)));
    expect(new Set(pssDocs.map((d) => d.signature)).size).toBe(1);
    expect(pssDocs[0]).toMatchObject({ scheme: 'rsa-pss-sha256' });
    expect(verifySignatureDocument(R.group, pssDocs[0], { message })).toMatchObject({ ok: true, scheme: 'rsa-pss-sha256' });
    expect(verify('sha256', message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, fromHex(pssDocs[0].signature))).toBe(true);
    expect(verify('sha256', message, key, fromHex(pssDocs[0].signature))).toBe(false);
    const pssDir = mkdtempSync(join(tmpdir(), 'signer-pss-'));
    try {
      writeFileSync(join(pssDir, 'key.pem'), pem);
      writeFileSync(join(pssDir, 'msg'), message);
      writeFileSync(join(pssDir, 'sig'), fromHex(pssDocs[0].signature));
      const args = ['dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-verify', join(pssDir, 'key.pem'), '-signature', join(pssDir, 'sig'), join(pssDir, 'msg')];
      expect(execFileSync('openssl', args).toString()).toMatch(/Verified OK/);
    } finally {
      rmSync(pssDir, { recursive: true, force: true });
    }
    // Claiming PKCS #1 v1.5 for the PSS signature does not verify.
    expect(verifySignatureDocument(R.group, { ...pssDocs[0], scheme: 'rsa-pkcs1-sha256' }).ok).toBe(false);
    // The BLS purpose of the same group still signs with BLS; a one-byte change of the RSA signature fails.
    const flipped = docs[0].signature.slice(0, 8) + (docs[0].signature[8] === '0' ? '1' : '0') + docs[0].signature.slice(9);
    expect(verifySignatureDocument(R.group, { ...docs[0], signature: flipped }).ok).toBe(false);
    expect(verifySignatureDocument(R.group, { ...docs[0], scheme: 'bls' }).ok).toBe(false);
    // A group without the key has no rsa.pem.
    expect((await json(cluster().app(0).request('/v1/sign/rsa.pem'))).error.code).toBe('no-signer-rsa');
  }, 120_000);
});
