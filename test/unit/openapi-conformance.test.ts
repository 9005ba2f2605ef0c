/**
 * The OpenAPI document's response schemas are not fiction: real answers of in-memory replicas (plain,
 * batched, raw and encrypted requests, a notary stamp and a CA registration, ordered and certified by four
 * replicas, whose frames go through POST /v1/peer) are checked against the schema the document states for their route, status and media type, by
 * Ajv (draft 2020-12, strict), not by the app's own validator. Every success answer the document describes
 * is exercised but those listed in NOT_EXERCISED (with the reason), and so are error answers (the Error
 * schema).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { encodeCaRequest, registerRequest } from '../../shared/app/ca.ts';
import { encryptRequest } from '../../shared/client/encrypt.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { testBeaconGroup, testRsaGroup } from '../helpers/group.ts';
import { BeaconService } from '../../workers/core/beacon.ts';
import { MemoryBeaconStore } from '../../workers/core/beacon-store.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { testSignerGroup } from '../helpers/group.ts';
import { policyMessageBytes, signRequest } from '../../shared/app/signer.ts';
import { parseSignerPolicy } from '../../shared/app/signer-policy.ts';
import { ed25519PublicKey, ed25519Signer } from '../../shared/crypto/ed25519.ts';
import { SignService } from '../../workers/core/signer.ts';
import { hostSignerLedger } from '../../workers/core/signer-routes.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { TsaService } from '../../workers/core/tsa.ts';
import { X509Service } from '../../workers/core/x509.ts';
import { createPrivateKey } from 'node:crypto';
import { buildCsr, cn } from '../helpers/csr-build.ts';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { MessageImprint, TimeStampReq } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { DocumentSchemas } from '../helpers/openapi.ts';
import type { OpenApiDoc } from '../helpers/openapi.ts';

/** Success answers the scenario does not produce, and why (none so far). */
const NOT_EXERCISED = new Set<string>([]);

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const JSON_TYPE = { 'content-type': 'application/json' };

describe('real answers match the OpenAPI document', () => {
  it('answers of every route, success and error, validate against the documented schema', async () => {
    // Frames between replicas go through POST /v1/peer, so its answers are checked too.
    const c = hostCluster({ post: async (to, frame) => call(to, 'POST', '/v1/peer', { headers: { 'content-type': 'application/octet-stream' }, body: frame }) });
    const doc = (await (await c.app(0).request('/v1/openapi.json')).json()) as OpenApiDoc;
    const schemas = new DocumentSchemas(doc);
    const seen = new Set<string>();

    /** Calls replica i and checks the answer against the document; returns the status and body. */
    const call = async (i: number, method: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> => {
      const res = await c.app(i).request(path, { method, ...init });
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
      const text = await res.text();
      const body: unknown = type === 'application/json' ? JSON.parse(text) : text;
      const { key, validate } = schemas.response(method, path.split('?')[0]!, res.status, type);
      expect(validate(body), `${key}: ${JSON.stringify(validate.errors)}\n${text.slice(0, 300)}`).toBe(true);
      seen.add(key);
      return { status: res.status, body };
    };
    const post = (i: number, path: string, body: unknown) => call(i, 'POST', path, { headers: JSON_TYPE, body: JSON.stringify(body) });

    // Submissions: plain text, batch (with a refused item), raw bytes, encrypted; a stamp; a CA registration.
    expect((await post(0, '/v1/requests', { text: 'one' })).status).toBe(202);
    const batch = await post(1, '/v1/requests/batch', { requests: [{ text: 'two' }, { data: b64(utf8ToBytes('three')) }, { ciphertext: b64(utf8ToBytes('not a ciphertext')) }] });
    expect(batch.body.results[2].error.code).toBe('invalid-ciphertext');
    expect((await call(2, 'POST', '/v1/requests', { headers: { 'content-type': 'application/octet-stream' }, body: utf8ToBytes('four') })).status).toBe(202);
    const enc = encryptRequest(c.group, utf8ToBytes('sealed'), 'conformance', seededRandom('openapi-conformance'));
    expect((await post(3, '/v1/requests', { ciphertext: b64(enc.ciphertext) })).body).toMatchObject({ encrypted: true, status: 'pending' });
    const digest = toHex(sha256(utf8ToBytes('a document')));
    expect((await post(0, '/v1/notary/stamp', { digest, nonce: '00' })).status).toBe(202);
    const ca = await post(1, '/v1/ca/requests', { request: registerRequest(c.group.groupId, 'alice', new Uint8Array(32).fill(5), 100) });
    expect(ca.status).toBe(202);
    const one = requestId(utf8ToBytes('one'));
    expect((await call(0, 'GET', `/v1/requests/${one}`)).body.status).toBe('pending');

    await c.settle();

    // Queries once everything is certified.
    expect((await call(1, 'GET', `/v1/requests/${one}`)).body.status).toBe('certified');
    expect((await call(2, 'GET', `/v1/requests/${enc.ciphertextId}`)).body).toMatchObject({ status: 'certified', plaintextId: enc.plaintextId });
    await call(3, 'GET', `/v1/receipts/${one}`);
    expect((await post(2, '/v1/requests', { text: 'one' })).status).toBe(200);
    const stamp = await call(1, 'GET', `/v1/notary/stamps/${digest}`);
    expect(stamp.body.status).toBe('certified');
    await call(2, 'GET', `/v1/notary/seq/${stamp.body.index}`);
    expect((await post(3, '/v1/notary/stamp', { digest })).status).toBe(200);
    expect((await call(0, 'GET', `/v1/ca/requests/${ca.body.id}`)).body).toMatchObject({ status: 'certified', response: { ok: true } });
    expect((await post(2, '/v1/ca/requests', { request: registerRequest(c.group.groupId, 'alice', new Uint8Array(32).fill(5), 100) })).status).toBe(200);
    await call(3, 'GET', '/v1/ca/names/alice');
    await call(3, 'GET', '/v1/ca/names/bob');
    await call(0, 'GET', '/v1/info');
    await call(0, 'GET', '/v1/health');
    await call(1, 'GET', '/v1/metrics');
    await call(1, 'GET', '/metrics');
    await call(2, 'GET', '/v1/openapi.json');
    const cp = await call(2, 'GET', '/v1/log/checkpoint');
    await call(2, 'GET', '/v1/log/checkpoint?covering=0');
    await call(3, 'GET', '/v1/log/entries?start=0&end=3');
    await call(3, 'GET', `/v1/log/consistency?first=1&second=${cp.body.size}`);
    await call(0, 'GET', '/checkpoint');
    await call(0, 'GET', `/tile/0/000.p/${cp.body.size}`);
    await call(0, 'GET', `/tile/entries/000.p/${cp.body.size}`);
    await call(1, 'GET', `/v1/peer/rejoin-report?to=0&nonce=${'ab'.repeat(16)}`);
    // The peer route: an authentic frame is what the link tests send; here garbage, refused with the Error schema.
    expect((await call(0, 'POST', '/v1/peer', { headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(40) })).status).toBeGreaterThanOrEqual(400);

    // Errors: documented statuses and `default`, all the Error schema.
    const errors: [string, string, RequestInit?][] = [
      ['GET', '/v1/requests/abc'],
      ['GET', `/v1/requests/${'0'.repeat(64)}`],
      ['GET', `/v1/receipts/${'0'.repeat(64)}`],
      ['GET', '/v1/log/entries?start=x'],
      ['GET', '/v1/log/checkpoint?covering=-1'],
      ['GET', `/v1/log/consistency?first=2&second=1`],
      ['GET', '/v1/peer/rejoin-report?to=1'],
      ['GET', '/v1/notary/seq/-1'],
      ['GET', '/v1/ca/names/UPPER'],
      ['GET', '/tile/x'],
      ['POST', '/v1/requests', { headers: { 'content-type': 'text/plain' }, body: 'x' }],
      ['POST', '/v1/requests', { headers: JSON_TYPE, body: '{' }],
      ['POST', '/v1/requests', { headers: JSON_TYPE, body: '{"text": "a", "data": "AAAA"}' }],
      ['POST', '/v1/ca/requests', { headers: JSON_TYPE, body: '{"request": {"op": "burn"}}' }],
      ['POST', '/v1/notary/stamp', { headers: JSON_TYPE, body: '{"digest": "00"}' }],
    ];
    for (const [method, path, init] of errors) {
      const r = await call(0, method, path, init);
      expect(r.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(typeof r.body.error.code).toBe('string');
    }

    // The group certificates need a group dealt with --rsa (the cluster's has no RSA key: 404 above too).
    await call(0, 'GET', '/v1/ca/root.pem');
    const rsa = testRsaGroup();
    const rsaHost = new ReplicaHost(rsa.group, rsa.secrets[0]!, new MemoryStore(), { post: async () => ({ status: 503, body: null }) }, () => 0, { bootstrap: true });
    const rsaApp = replicaApp(rsaHost, { now: () => 0, afterChange: () => undefined });
    for (const path of ['/v1/ca/root.pem', '/v1/tsa/cert.pem']) {
      const res = await rsaApp.request(path);
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
      const { key, validate } = schemas.response('GET', path, res.status, type);
      expect(res.status).toBe(200);
      expect(validate(await res.text()), key).toBe(true);
      seen.add(key);
    }

    // The beacon needs a group dealt with --beacon: without one every beacon route is 404 no-beacon.
    for (const path of ['/chains', '/info', '/health', '/public/latest', '/public/1', `/${'0'.repeat(64)}/info`, `/${'0'.repeat(64)}/public/latest`, `/${'0'.repeat(64)}/public/1`, '/v1/beacon/shares/1']) {
      expect((await call(0, 'GET', path)).body.error.code).toBe('no-beacon');
    }
    const bg = testBeaconGroup(4, 1, 'conformance-beacon', { period: 3, genesisTime: 1000 });
    const beaconNow = () => 1_000_000 + 3000 * 4; // round 5 is due
    const beaconApps: ReturnType<typeof replicaApp>[] = [];
    bg.secrets.forEach((s, i) => {
      const h = new ReplicaHost(bg.group, s, new MemoryStore(), { post: async () => ({ status: 503, body: null }) }, beaconNow, { bootstrap: true });
      const get = async (to: number, path: string) => {
        const res = await beaconApps[to]!.request(path);
        return { status: res.status, body: (await res.json()) as unknown };
      };
      const beacon = new BeaconService({ group: bg.group, me: i, replicaId: s.id, share: s.beacon!, store: new MemoryBeaconStore(), get, now: beaconNow });
      beaconApps.push(replicaApp(h, { now: beaconNow, afterChange: () => undefined, beacon }));
    });
    const chain = Buffer.from(bg.group.beacon!.chainHash).toString('hex');
    const beaconPaths = ['/v1/beacon/shares/2', '/chains', '/health', '/info', '/public/latest', '/public/2', `/${chain}/info`, `/${chain}/public/latest`, `/${chain}/public/3`, '/public/9', `/${'ab'.repeat(32)}/info`, '/public/x'];
    for (const path of beaconPaths) {
      const res = await beaconApps[1]!.request(path);
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
      const { key, validate } = schemas.response('GET', path, res.status, type);
      const body = (await res.json()) as unknown;
      expect(validate(body), `${key}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(res.status < 400, path).toBe(!['/public/9', `/${'ab'.repeat(32)}/info`, '/public/x'].includes(path));
      seen.add(key);
    }

    // The signing service needs a group with a signer policy: without one its routes are 404 no-signer.
    expect((await post(0, '/v1/sign', { client: 'ci', purpose: 'p', message: 'AA==', sig: '00'.repeat(64) })).body.error.code).toBe('no-signer');
    const admin = new Uint8Array(32).fill(1);
    const client = new Uint8Array(32).fill(2);
    const policy = parseSignerPolicy({
      version: 1,
      admins: { threshold: 1, keys: { admin: toHex(ed25519PublicKey(admin)) } },
      clients: { ci: { publicKey: toHex(ed25519PublicKey(client)) } },
      purposes: { p: { clients: ['ci'], maxMessageBytes: 64 } },
    });
    const sg = testSignerGroup(policy, 4, 1, 'conformance-signer', { rsa: true });
    const sc = hostCluster({ group: sg });
    const services: SignService[] = sc.hosts.map(
      (_, i) =>
        new SignService({
          group: sg.group,
          me: i,
          replicaId: sg.secrets[i]!.id,
          share: sg.secrets[i]!.kernel,
          ledger: hostSignerLedger(sc.hosts[i]!),
          now: () => Date.now(),
          get: async (to, path) => {
            const res = await sc.app(to, { signer: services[to]! }).request(path);
            return { status: res.status, body: (await res.json()) as unknown };
          },
        }),
    );
    const signerCall = async (i: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
      const res = await sc.app(i, { signer: services[i]! }).request(path, body === undefined ? { method } : { method, headers: JSON_TYPE, body: JSON.stringify(body) });
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
      const parsed = (await res.json()) as unknown;
      const { key, validate } = schemas.response(method, path, res.status, type);
      expect(validate(parsed), `${key}: ${JSON.stringify(validate.errors)}`).toBe(true);
      seen.add(key);
      return { status: res.status, body: parsed };
    };
    const entry = JSON.parse(new TextDecoder().decode(signRequest(sg.group.groupId, 'ci', 'p', utf8ToBytes('hello'), ed25519Signer(client)))) as Record<string, string>;
    const { app: _app, op: _op, ...signBody } = entry;
    const signed = await signerCall(0, 'POST', '/v1/sign', signBody);
    expect(signed.status).toBe(202);
    expect((await signerCall(1, 'POST', '/v1/sign', { ...signBody, client: 'nobody' })).status).toBe(403);
    expect((await signerCall(1, 'GET', '/v1/sign/policy')).status).toBe(409);
    await sc.settle();
    await sc.settle();
    expect((await signerCall(1, 'POST', '/v1/sign', signBody)).status).toBe(200);
    expect((await signerCall(2, 'GET', `/v1/sign/shares/${signed.body.id}`)).status).toBe(200);
    expect((await signerCall(1, 'GET', `/v1/sign/requests/${signed.body.id}`)).body).toMatchObject({ op: 'sign', ok: true });
    expect((await signerCall(1, 'GET', `/v1/sign/requests/${'0'.repeat(64)}`)).status).toBe(404);
    expect((await signerCall(3, 'GET', `/v1/sign/${signed.body.id}`)).status).toBe(200);
    expect((await signerCall(3, 'GET', `/v1/sign/${'0'.repeat(64)}`)).status).toBe(404);
    expect((await signerCall(0, 'GET', '/v1/sign/policy')).status).toBe(200);
    const pem = await sc.app(2, { signer: services[2]! }).request('/v1/sign/rsa.pem');
    const pemKey = schemas.response('GET', '/v1/sign/rsa.pem', pem.status, (pem.headers.get('content-type') ?? '').split(';')[0]!.trim());
    expect(pemKey.validate(await pem.text())).toBe(true);
    seen.add(pemKey.key);
    // The time-stamping authority needs a group with a threshold RSA key.
    const tc = hostCluster({ group: rsa, clockStart: Date.UTC(2026, 11, 7) });
    const tsas: TsaService[] = tc.hosts.map(
      (_, i) =>
        new TsaService({
          group: rsa.group,
          me: i,
          replicaId: rsa.secrets[i]!.id,
          share: rsa.secrets[i]!.rsa!,
          entry: (index) => tc.hosts[i]!.entryAt(index),
          now: () => Date.now(),
          get: async (to, path) => {
            const res = await tc.app(to, { tsa: tsas[to]!, x509: x509s[to]! }).request(path);
            return { status: res.status, body: (await res.json()) as unknown };
          },
        }),
    );
    const x509s: X509Service[] = tc.hosts.map(
      (_, i) =>
        new X509Service({
          group: rsa.group,
          me: i,
          replicaId: rsa.secrets[i]!.id,
          share: rsa.secrets[i]!.rsa!,
          entry: (index) => tc.hosts[i]!.entryAt(index),
          response: (index) => tc.hosts[i]!.responseAt(index, 'ca'),
          now: () => Date.now(),
          get: async (to, path) => {
            const res = await tc.app(to, { tsa: tsas[to]!, x509: x509s[to]! }).request(path);
            return { status: res.status, body: (await res.json()) as unknown };
          },
        }),
    );
    const tsaCall = async (i: number, method: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> => {
      let done = false;
      const pending = Promise.resolve(tc.app(i, { tsa: tsas[i]!, x509: x509s[i]! }).request(path, { method, ...init })).finally(() => (done = true));
      while (!done) {
        await tc.settle();
        await new Promise((r) => setTimeout(r, 10));
      }
      const res = await pending;
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
      const body: unknown = type === 'application/json' ? await res.json() : await res.text();
      const { key, validate } = schemas.response(method, path, res.status, type);
      expect(validate(body), `${key}: ${JSON.stringify(validate.errors)}`).toBe(true);
      seen.add(key);
      return { status: res.status, body };
    };
    const tsq = AsnConvert.serialize(
      new TimeStampReq({
        version: 1,
        messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: '2.16.840.1.101.3.4.2.1', parameters: null }), hashedMessage: new OctetString(sha256(utf8ToBytes('a document'))) }),
        certReq: true,
      }),
    );
    const TSQ = { headers: { 'content-type': 'application/timestamp-query' }, body: new Uint8Array(tsq) };
    expect((await tsaCall(0, 'POST', '/v1/tsa', TSQ)).status).toBe(200);
    const tsqIndex = (await tc.hosts[0]!.indexOf(requestId(new Uint8Array(tsq))))!;
    expect((await tsaCall(1, 'GET', `/v1/tsa/replies/${tsqIndex}`)).status).toBe(200);
    expect((await tsaCall(2, 'GET', `/v1/tsa/shares/${tsqIndex}`)).status).toBe(200);
    expect((await tsaCall(2, 'GET', `/v1/tsa/shares/${tsqIndex + 7}`)).status).toBe(404);
    expect((await tsaCall(2, 'POST', '/v1/tsa', { headers: JSON_TYPE, body: '{}' })).status).toBe(415);
    expect((await call(0, 'POST', '/v1/tsa', TSQ)).body.error.code).toBe('no-rsa-key');

    // X.509: alice registers an Ed25519 key, then asks for a certificate for a CSR of it.
    const aliceSeed = new Uint8Array(32).fill(9);
    const aliceKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(aliceSeed)]), format: 'der', type: 'pkcs8' });
    expect((await tsaCall(0, 'POST', '/v1/ca/requests', { headers: JSON_TYPE, body: JSON.stringify({ request: registerRequest(rsa.group.groupId, 'alice', aliceSeed, 86_400) }) })).status).toBe(202);
    const aliceCsr = Buffer.from(buildCsr({ key: aliceKey, subject: cn('alice'), hash: null })).toString('base64');
    const issued = await tsaCall(1, 'POST', '/v1/ca/x509', { headers: JSON_TYPE, body: JSON.stringify({ csr: aliceCsr, nonce: '01' }) });
    expect(issued.status).toBe(200);
    const x509Index = (await tc.hosts[1]!.indexOf(requestId(encodeCaRequest({ op: 'x509', name: 'alice', csr: aliceCsr, nonce: '01' }))))!;
    expect((await tsaCall(2, 'GET', `/v1/ca/x509/${x509Index}`)).status).toBe(200);
    expect((await tsaCall(3, 'GET', `/v1/ca/x509/shares/${x509Index}`)).status).toBe(200);
    expect((await tsaCall(3, 'GET', `/v1/ca/x509/shares/${x509Index - 1}`)).status).toBe(404);
    expect((await tsaCall(0, 'POST', '/v1/ca/x509', { headers: JSON_TYPE, body: JSON.stringify({ csr: 'AAAA' }) })).status).toBe(400);
    expect((await call(0, 'POST', '/v1/ca/x509', { headers: JSON_TYPE, body: JSON.stringify({ csr: aliceCsr }) })).body.error.code).toBe('no-rsa-key');

    const next = { ...JSON.parse(JSON.stringify(policy)), version: 2 };
    const change = { policy: next, sigs: { admin: toHex(ed25519Signer(admin)(policyMessageBytes(sg.group.groupId, parseSignerPolicy(next)))) } };
    // Signed by someone who is no administrator: ordered, refused by the application; the same bytes again are already in the log.
    const refusedChange = { policy: next, sigs: { mallory: change.sigs.admin } };
    expect((await signerCall(0, 'POST', '/v1/sign/policy', refusedChange)).status).toBe(202);
    await sc.settle();
    expect((await signerCall(2, 'POST', '/v1/sign/policy', refusedChange)).status).toBe(200);
    expect((await signerCall(0, 'POST', '/v1/sign/policy', change)).status).toBe(202);
    expect((await signerCall(0, 'POST', '/v1/sign/policy', { ...change, policy: { ...next, version: 3 } })).status).toBe(409);
    await sc.settle();
    expect((await signerCall(1, 'POST', '/v1/sign/policy', change)).status).toBe(409);

    // Every documented success answer was exercised (but those listed, with the reason).
    const successes = Object.entries(doc.paths).flatMap(([template, ops]) =>
      Object.entries(ops).flatMap(([method, op]) =>
        Object.entries(op.responses)
          .filter(([status]) => /^2/.test(status))
          .flatMap(([status, r]) => Object.keys(r.content ?? {}).map((type) => `${method} ${template} ${status} ${type}`)),
      ),
    );
    expect(successes.filter((k) => !seen.has(k) && !NOT_EXERCISED.has(k))).toEqual([]);
  }, 120_000);
});
