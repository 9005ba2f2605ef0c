import { describe, expect, it } from 'vitest';
import { MapAppState } from '../../shared/app/types.ts';
import { SignerApp, encodePolicyEntry, parseSignerEntry, policyMessageBytes, signRequest, signerDigest } from '../../shared/app/signer.ts';
import { SignerPolicyError, decodeSignerPolicy, encodeSignerPolicy, parseSignerPolicy } from '../../shared/app/signer-policy.ts';
import type { SignerPolicy } from '../../shared/app/signer-policy.ts';
import { ed25519PublicKey, ed25519Signer } from '../../shared/crypto/ed25519.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';

const groupId = new Uint8Array(32).fill(7);
const seed = (k: number): Uint8Array => new Uint8Array(32).fill(k);
const pk = (k: number): string => toHex(ed25519PublicKey(seed(k)));
const signer = (k: number) => ed25519Signer(seed(k));

const POLICY: SignerPolicy = parseSignerPolicy({
  version: 1,
  admins: { threshold: 2, keys: { alice: pk(1), bob: pk(2), carol: pk(3) } },
  clients: { ci: { publicKey: pk(10), rate: { count: 2, epochs: 10 } }, web: { publicKey: pk(11) } },
  purposes: { release: { clients: ['ci'], maxMessageBytes: 64, prefixes: ['7265'] }, token: { clients: ['ci', 'web'], maxMessageBytes: 16 } },
});

function run(app: SignerApp, state: MapAppState, entry: Uint8Array, index: number, epoch: number): Record<string, unknown> {
  const out = app.apply(entry, { index, epoch, time: 0 }, state);
  expect(out).not.toBeNull();
  return JSON.parse(new TextDecoder().decode(out!)) as Record<string, unknown>;
}

const sign = (client: string, k: number, purpose: string, message: string, nonce?: string): Uint8Array =>
  signRequest(groupId, client, purpose, utf8ToBytes(message), signer(k), nonce);

function policyChange(next: SignerPolicy, admins: [string, number][]): Uint8Array {
  const m = policyMessageBytes(groupId, next);
  return encodePolicyEntry({ policy: next, sigs: Object.fromEntries(admins.map(([n, k]) => [n, toHex(signer(k)(m))])) });
}

describe('signer policy', () => {
  it('is canonical JSON with sorted keys, and decodes only its canonical form', () => {
    const b = encodeSignerPolicy(POLICY);
    const text = new TextDecoder().decode(b);
    expect(text.startsWith('{"admins":{"keys":{"alice":')).toBe(true);
    expect(decodeSignerPolicy(b)).toEqual(POLICY);
    expect(() => decodeSignerPolicy(utf8ToBytes(text.replace('{"admins"', '{ "admins"')))).toThrow(/canonical/);
  });

  it('refuses bad policies with the path of the problem', () => {
    const base = JSON.parse(new TextDecoder().decode(encodeSignerPolicy(POLICY))) as Record<string, any>;
    const bad = (f: (p: Record<string, any>) => void): string => {
      const p = structuredClone(base);
      f(p);
      try {
        parseSignerPolicy(p);
      } catch (e) {
        expect(e).toBeInstanceOf(SignerPolicyError);
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(bad((p) => (p.admins.threshold = 4))).toMatch(/policy\.admins\.threshold/);
    expect(bad((p) => (p.admins.keys = {}))).toMatch(/at least one administrator/);
    expect(bad((p) => (p.clients.ci.publicKey = '00'.repeat(32)))).toMatch(/policy\.clients\.ci\.publicKey/);
    expect(bad((p) => (p.purposes.release.clients = ['nobody']))).toMatch(/not a client/);
    expect(bad((p) => (p.purposes.token.clients = ['web', 'ci']))).toMatch(/sorted/);
    expect(bad((p) => (p.purposes.release.maxMessageBytes = 1 << 20))).toMatch(/maxMessageBytes/);
    expect(bad((p) => (p.purposes['Bad Name'] = { clients: [], maxMessageBytes: 1 }))).toMatch(/Bad Name/);
    expect(bad((p) => (p.extra = 1))).toMatch(/unknown field/);
    expect(bad((p) => (p.version = 0))).toMatch(/version/);
    expect(bad(() => undefined)).toBe('accepted');
  });
});

describe('signer application', () => {
  it('accepts a request the policy allows and records its outcome', () => {
    const app = new SignerApp({ groupId, policy: POLICY });
    const state = new MapAppState();
    const entry = sign('ci', 10, 'release', 'release v1.0');
    const r = run(app, state, entry, 5, 1);
    expect(r).toMatchObject({ app: 'signer', ok: true, op: 'sign', index: 5, epoch: 1, client: 'ci', purpose: 'release' });
    const id = toHex(sha256(entry));
    expect(r['id']).toBe(id);
    expect(app.outcome(state, id)).toEqual({ op: 'sign', client: 'ci', purpose: 'release', index: 5, epoch: 1, ok: true });
    // The same bytes again: the first outcome, not counted again.
    expect(run(app, state, entry, 9, 2)).toMatchObject({ ok: true, index: 5, epoch: 1, repeated: true });
  });

  it('refuses what the policy does not allow, and records why', () => {
    const app = new SignerApp({ groupId, policy: POLICY });
    const state = new MapAppState();
    const cases: [Uint8Array, string][] = [
      [sign('web', 11, 'release', 'release x'), 'not-allowed'],
      [sign('ci', 10, 'release', 'nope'), 'bad-prefix'],
      [sign('ci', 10, 'token', 'x'.repeat(17)), 'too-large'],
      [sign('ci', 10, 'nothing', 'x'), 'unknown-purpose'],
      [sign('eve', 12, 'token', 'x'), 'unknown-client'],
      [sign('ci', 11, 'token', 'x'), 'bad-signature'],
    ];
    cases.forEach(([entry, code], i) => {
      const r = run(app, state, entry, i, 0);
      expect(r).toMatchObject({ ok: false, code });
      expect(app.outcome(state, toHex(sha256(entry)))).toMatchObject({ ok: false, code });
    });
  });

  it('limits a client to its rate over a window of epochs', () => {
    const app = new SignerApp({ groupId, policy: POLICY });
    const state = new MapAppState();
    expect(run(app, state, sign('ci', 10, 'token', 'a'), 0, 3)['ok']).toBe(true);
    expect(run(app, state, sign('ci', 10, 'token', 'b'), 1, 7)['ok']).toBe(true);
    expect(run(app, state, sign('ci', 10, 'token', 'c'), 2, 12)).toMatchObject({ ok: false, code: 'rate' });
    // Epoch 13: epoch 3 left the window of 10 (epochs 4..13).
    expect(run(app, state, sign('ci', 10, 'token', 'd'), 3, 13)['ok']).toBe(true);
    // web has no rate.
    for (let i = 0; i < 5; i++) expect(run(app, state, sign('web', 11, 'token', `w${i}`), 10 + i, 13)['ok']).toBe(true);
  });

  it('changes the policy only with a threshold of administrators and the next version', () => {
    const app = new SignerApp({ groupId, policy: POLICY });
    const state = new MapAppState();
    const next = parseSignerPolicy({ ...structuredClone(JSON.parse(new TextDecoder().decode(encodeSignerPolicy(POLICY)))), version: 2, purposes: { token: { clients: ['web'], maxMessageBytes: 16 } } });
    const digest1 = app.digest(state);
    expect(digest1).toEqual(signerDigest(encodeSignerPolicy(POLICY)));
    expect(run(app, state, policyChange(next, [['alice', 1]]), 0, 4)).toMatchObject({ ok: false, code: 'not-enough-admins' });
    expect(run(app, state, policyChange(next, [['alice', 1], ['mallory', 9]]), 1, 4)).toMatchObject({ ok: false, code: 'unknown-admin' });
    expect(run(app, state, policyChange(next, [['alice', 1], ['bob', 3]]), 2, 4)).toMatchObject({ ok: false, code: 'bad-signature' });
    expect(run(app, state, policyChange({ ...next, version: 3 }, [['alice', 1], ['bob', 2]]), 3, 4)).toMatchObject({ ok: false, code: 'bad-version' });
    expect(app.digest(state)).toEqual(digest1);
    expect(run(app, state, policyChange(next, [['alice', 1], ['bob', 2]]), 4, 5)).toMatchObject({ ok: true, op: 'policy', version: 2 });
    expect(app.policy(state)).toEqual(next);
    expect(app.digest(state)).toEqual(signerDigest(encodeSignerPolicy(next)));
    // Now ci may not sign tokens, web still may.
    expect(run(app, state, sign('ci', 10, 'token', 'a'), 5, 6)).toMatchObject({ ok: false, code: 'not-allowed' });
    expect(run(app, state, sign('web', 11, 'token', 'a'), 6, 6)['ok']).toBe(true);
    // The same change again is an old version.
    expect(run(app, state, policyChange(next, [['alice', 1], ['carol', 3]]), 7, 6)).toMatchObject({ ok: false, code: 'bad-version' });
    // History: version 1 in force through epoch 4, version 2 from the end of epoch 5.
    expect(app.policyBytesAt(state, 4)).toEqual(encodeSignerPolicy(POLICY));
    expect(app.policyBytesAt(state, 5)).toEqual(encodeSignerPolicy(next));
    expect(app.policyBytesAt(state, 99)).toEqual(encodeSignerPolicy(next));
  });

  it('parses only canonical entries, and ignores entries of other applications', () => {
    const entry = sign('ci', 10, 'token', 'hi', 'ab');
    const p = parseSignerEntry(entry);
    expect(p).toMatchObject({ ok: true, op: 'sign' });
    const text = new TextDecoder().decode(entry);
    expect(parseSignerEntry(utf8ToBytes(text.replace('"op":"sign"', '"op": "sign"')))).toMatchObject({ ok: false, code: 'malformed' });
    expect(parseSignerEntry(utf8ToBytes(text.replace('"message":"aGk="', '"message":"aGl="')))).toMatchObject({ ok: false, code: 'bad-message' });
    expect(parseSignerEntry(utf8ToBytes('{"app":"signer","op":"burn"}'))).toMatchObject({ ok: false });
    expect(parseSignerEntry(utf8ToBytes('{"app":"signer",'))).toMatchObject({ ok: false, code: 'malformed' });
    expect(parseSignerEntry(utf8ToBytes('{"app":"notary","op":"stamp"}'))).toBeNull();
    const app = new SignerApp({ groupId, policy: POLICY });
    expect(app.apply(utf8ToBytes('plain request'), { index: 0, epoch: 0, time: 0 }, new MapAppState())).toBeNull();
  });
});

describe('group.json signer section', () => {
  it('is optional, parsed strictly with paths, and adds the signer to the standard applications', async () => {
    const { testGroup, testSignerGroup } = await import('../helpers/group.ts');
    const { parseGroup, ConfigError } = await import('../../shared/config/group.ts');
    const { standardApps } = await import('../../shared/app/index.ts');
    const g = testSignerGroup(POLICY).group;
    expect(g.signer?.policy).toEqual(POLICY);
    expect(standardApps(g).map((a) => a.name)).toEqual(['notary', 'ca', 'signer']);
    expect(standardApps(testGroup(4).group).map((a) => a.name)).toEqual(['notary', 'ca']);
    const file = JSON.parse(JSON.stringify(g.file)) as Record<string, any>;
    const refusal = (f: (o: Record<string, any>) => void): string => {
      const o = structuredClone(file);
      f(o);
      try {
        parseGroup(o);
        return 'accepted';
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
    };
    expect(refusal(() => undefined)).toBe('accepted');
    expect(refusal((o) => (o.signer.policy.admins.threshold = 9))).toMatch(/signer\.policy\.admins\.threshold/);
    expect(refusal((o) => (o.signer.extra = 1))).toMatch(/signer/);
    expect(refusal((o) => (o.signer = {}))).toMatch(/policy/);
  });
});

describe('audit samples bound to a beacon round', () => {
  it('fix the population at the audit, draw distinct accepted requests from the round at the reveal', async () => {
    const { testBeaconGroup } = await import('../helpers/group.ts');
    const { beaconShare, combineBeacon } = await import('../../shared/crypto/beacon.ts');
    const { encodeAuditEntry, encodeRevealEntry } = await import('../../shared/app/signer.ts');
    const { auditSample } = await import('../../shared/app/signer-audit.ts');
    const bg = testBeaconGroup(4, 1, 'signer-audit');
    const beaconKey = bg.group.beacon!.key.groupKey;
    const round = (r: number) => toHex(combineBeacon(bg.group.beacon!.key, r, [beaconShare(bg.secrets[0]!.beacon!, r), beaconShare(bg.secrets[1]!.beacon!, r)]).signature);
    const app = new SignerApp({ groupId, policy: POLICY, beaconKey });
    const state = new MapAppState();
    const accepted: string[] = [];
    for (let i = 0; i < 10; i++) {
      const e = sign('web', 11, 'token', `t${i}`);
      expect(run(app, state, e, i, 1)['ok']).toBe(true);
      accepted.push(toHex(sha256(e)));
    }
    run(app, state, sign('ci', 10, 'nothing', 'x'), 10, 1); // refused: not in the population
    const audit = encodeAuditEntry({ count: 3, round: 5 });
    const auditId = toHex(sha256(audit));
    expect(run(app, state, audit, 11, 2)).toMatchObject({ ok: true, op: 'audit', population: 10, round: 5, count: 3 });
    // Accepted after the audit: not in its population.
    expect(run(app, state, sign('web', 11, 'token', 'late'), 12, 2)['ok']).toBe(true);
    expect(run(app, state, encodeRevealEntry({ audit: auditId, signature: round(6) }), 13, 3)).toMatchObject({ ok: false, code: 'bad-signature' });
    expect(run(app, state, encodeRevealEntry({ audit: toHex(new Uint8Array(32)), signature: round(5) }), 14, 3)).toMatchObject({ ok: false, code: 'unknown-audit' });
    expect(run(app, state, encodeRevealEntry({ audit: auditId, signature: round(5) }), 15, 3)).toMatchObject({ ok: true, op: 'reveal', sampled: 3 });
    const outcome = app.outcome(state, auditId)!;
    expect(outcome.sample).toHaveLength(3);
    expect(new Set(outcome.sample).size).toBe(3);
    const { beaconRandomness } = await import('../../shared/crypto/beacon.ts');
    const expected = auditSample(beaconRandomness(fromHexBytes(round(5))), auditId, 10, 3).map((o) => accepted[o]!);
    expect(outcome.sample).toEqual(expected);
    // Revealed once: a second reveal (another encoding cannot exist) is refused.
    const again = encodeRevealEntry({ audit: auditId, signature: round(5) });
    expect(app.apply(again, { index: 16, epoch: 4, time: 0 }, state)).not.toBeNull();
    expect(app.outcome(state, auditId)!.sample).toEqual(expected);
    expect(run(app, state, encodeRevealEntry({ audit: auditId, signature: round(7) }), 17, 4)).toMatchObject({ ok: false, code: 'revealed' });
    // Without a beacon key: refused.
    const plain = new SignerApp({ groupId, policy: POLICY });
    expect(run(plain, new MapAppState(), encodeAuditEntry({ count: 1, round: 1 }), 0, 0)).toMatchObject({ ok: false, code: 'no-beacon' });
    expect(() => encodeAuditEntry({ count: 0, round: 1 })).toThrow(/count/);
    expect(() => encodeAuditEntry({ count: 1, round: 0 })).toThrow(/round/);
  });

  it('auditSample draws distinct ordinals below the population, all of them when count = population', async () => {
    const { auditSample } = await import('../../shared/app/signer-audit.ts');
    const id = 'ab'.repeat(32);
    for (const [n, k] of [[1, 1], [5, 5], [50, 7], [1000, 256], [3, 10]] as const) {
      const s = auditSample(new Uint8Array(32).fill(n), id, n, k);
      expect(s).toHaveLength(Math.min(n, k));
      expect(new Set(s).size).toBe(s.length);
      expect(s.every((x) => Number.isInteger(x) && x >= 0 && x < n)).toBe(true);
      if (k >= n) expect([...s].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    expect(auditSample(new Uint8Array(32), id, 100, 5)).not.toEqual(auditSample(new Uint8Array(32).fill(1), id, 100, 5));
  });
});

function fromHexBytes(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
}

describe('RSA purposes in the policy', () => {
  it('parse, record the scheme on accepted requests, and need the signing RSA key', async () => {
    const rsaPolicy = parseSignerPolicy({ ...JSON.parse(new TextDecoder().decode(encodeSignerPolicy(POLICY))), purposes: { code: { clients: ['ci'], maxMessageBytes: 64, scheme: 'rsa-pkcs1-sha256' } } });
    expect(rsaPolicy.purposes['code']!.scheme).toBe('rsa-pkcs1-sha256');
    expect(() => parseSignerPolicy({ ...rsaPolicy, purposes: { code: { clients: ['ci'], maxMessageBytes: 64, scheme: 'rsa-pss' } } })).toThrow(/policy\.purposes\.code\.scheme/);
    const app = new SignerApp({ groupId, policy: rsaPolicy, rsa: true });
    const state = new MapAppState();
    const e = sign('ci', 10, 'code', 'x');
    expect(run(app, state, e, 0, 0)['ok']).toBe(true);
    expect(app.outcome(state, toHex(sha256(e)))).toMatchObject({ op: 'sign', ok: true, scheme: 'rsa-pkcs1-sha256' });
    // A group without the key: a change that adds an RSA purpose is refused.
    const plain = new SignerApp({ groupId, policy: POLICY });
    const next = parseSignerPolicy({ ...rsaPolicy, version: 2 });
    expect(run(plain, new MapAppState(), policyChange(next, [['alice', 1], ['bob', 2]]), 0, 0)).toMatchObject({ ok: false, code: 'no-rsa-key' });
    // And group.json refuses such an initial policy without keys.signerRsa.
    const { testSignerGroup } = await import('../helpers/group.ts');
    expect(() => testSignerGroup(rsaPolicy, 4, 1, 'no-rsa-key')).toThrow(/signer\.policy\.purposes\.code\.scheme/);
    expect(testSignerGroup(rsaPolicy, 4, 1, 'with-rsa-key', { rsa: true }).group.signerRsa).toBeDefined();
  });
});
