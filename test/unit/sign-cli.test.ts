/**
 * The signing service's commands without a cluster (infra/cli/sign.ts, infra/cli/deal.ts): credentials
 * (mode 0600, never overwritten), a first policy from credentials, `sintra deal --signer-policy` (a bad
 * policy named by its path, nothing written), offline approvals, usage errors (exit 2) and failures
 * (exit 1, one line). The networked commands run against clusters in test/integration/signer-cluster.test.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGroup } from '../../shared/config/group.ts';
import { policyMessageBytes } from '../../shared/app/signer.ts';
import { parseSignerPolicy } from '../../shared/app/signer-policy.ts';
import { ed25519Verifier } from '../../shared/crypto/ed25519.ts';
import { fromHex } from '../../shared/crypto/bytes.ts';
import { main } from '../../infra/cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'sintra-sign-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (f: string) => join(dir, f);

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describe('sintra signer and sign without a cluster', () => {
  it('keygen, policy init, deal --signer-policy, approve; refusals', async () => {
    expect((await cli('signer', 'keygen', '--name', 'admin', '--out', at('admin.json'))).code).toBe(0);
    expect((await cli('signer', 'keygen', '--name', 'ci', '--out', at('ci.json'), '--json')).code).toBe(0);
    expect(statSync(at('admin.json')).mode & 0o777).toBe(0o600);
    const again = await cli('signer', 'keygen', '--name', 'ci', '--out', at('ci.json'));
    expect([again.code, again.err]).toEqual([1, expect.stringMatching(/^error: .*ci\.json exists/)]);
    expect((await cli('signer', 'keygen', '--name', 'Bad Name', '--out', at('bad.json'))).code).toBe(1);
    expect(existsSync(at('bad.json'))).toBe(false);

    const init = await cli('signer', 'policy', 'init', '--admin', at('admin.json'), '--client', at('ci.json'), '--purpose', 'release', '--purpose', 'token', '--out', at('policy.json'));
    expect(init.code, init.err).toBe(0);
    const policy = parseSignerPolicy(JSON.parse(readFileSync(at('policy.json'), 'utf8')));
    expect(Object.keys(policy.purposes)).toEqual(['release', 'token']);
    expect(policy.purposes['release']!.clients).toEqual(['ci']);

    const dealt = await cli('deal', '--n', '4', '--t', '1', '--seed', '00', '--signer-policy', at('policy.json'), '--out', at('keys'));
    expect(dealt.code, dealt.err).toBe(0);
    expect(dealt.out).toMatch(/signer policy: +version 1; 1 administrator\(s\), 1 to change it; 1 client\(s\); purposes release, token/);
    const group = parseGroup(JSON.parse(readFileSync(at('keys/group.json'), 'utf8')));
    expect(group.signer?.policy).toEqual(policy);
    expect((await cli('deal', 'verify', at('keys'))).code).toBe(0);

    writeFileSync(at('bad-policy.json'), JSON.stringify({ ...policy, admins: { ...policy.admins, threshold: 5 } }));
    const bad = await cli('deal', '--n', '4', '--t', '1', '--seed', '00', '--signer-policy', at('bad-policy.json'), '--out', at('keys-bad'));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--signer-policy .*policy\.admins\.threshold/);
    expect(existsSync(at('keys-bad'))).toBe(false);

    // An approval of version 2, checked here with the admin's public key.
    writeFileSync(at('p2.json'), JSON.stringify({ ...policy, version: 2 }));
    const ap = await cli('signer', 'policy', 'approve', '--policy', at('p2.json'), '--credential', at('admin.json'), '--group', at('keys/group.json'), '--out', at('ap.json'));
    expect(ap.code, ap.err).toBe(0);
    const approval = JSON.parse(readFileSync(at('ap.json'), 'utf8')) as { admin: string; version: number; sig: string };
    expect(approval).toMatchObject({ admin: 'admin', version: 2 });
    const key = policy.admins.keys['admin']!;
    expect(ed25519Verifier(fromHex(key))(policyMessageBytes(group.groupId, parseSignerPolicy({ ...policy, version: 2 })), fromHex(approval.sig))).toBe(true);
  }, 60_000);

  it('deal --signer-rsa (given primes): keys.signerRsa and its shares; signer rsa-key derives its PEM offline', async () => {
    const { fixturePrimes } = await import('../helpers/group.ts');
    const { p, q } = fixturePrimes(1);
    writeFileSync(at('primes.json'), JSON.stringify({ p: p.toString(16), q: q.toString(16) }));
    const dealt = await cli('deal', '--n', '4', '--t', '1', '--seed', '02', '--signer-policy', at('policy.json'), '--signer-rsa', '--signer-rsa-primes', at('primes.json'), '--out', at('keys-rsa'));
    expect(dealt.code, dealt.err).toBe(0);
    const group = parseGroup(JSON.parse(readFileSync(at('keys-rsa/group.json'), 'utf8')));
    expect(group.signerRsa?.n).toBe(p * q);
    expect((await cli('deal', 'verify', at('keys-rsa'))).code).toBe(0);
    const pem = await cli('signer', 'rsa-key', '--group', at('keys-rsa/group.json'));
    expect(pem.out).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const { createPublicKey } = await import('node:crypto');
    expect(createPublicKey(pem.out).asymmetricKeyDetails?.modulusLength).toBe(1024);
    // Refusals: --signer-rsa without a policy, primes without --signer-rsa, a group without the key.
    expect((await cli('deal', '--n', '4', '--t', '1', '--seed', '02', '--signer-rsa', '--out', at('x1'))).code).toBe(2);
    expect((await cli('deal', '--n', '4', '--t', '1', '--seed', '02', '--signer-policy', at('policy.json'), '--signer-rsa-primes', at('primes.json'), '--out', at('x2'))).code).toBe(2);
    const none = await cli('signer', 'rsa-key', '--group', at('keys/group.json'));
    expect([none.code, none.err]).toEqual([1, expect.stringMatching(/has no signing RSA key/)]);
  }, 60_000);

  it('usage errors exit 2, failures exit 1 with one line', async () => {
    const usage = await cli('sign', '--file', at('policy.json'));
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/--purpose/);
    expect((await cli('sign', '--verify', at('policy.json'), '--group', at('keys/group.json'))).code).toBe(2);
    // A group without a signer: refused before any network.
    expect((await cli('deal', '--n', '4', '--t', '1', '--seed', '01', '--out', at('plain'))).code).toBe(0);
    const none = await cli('sign', '--purpose', 'release', '--file', at('policy.json'), '--credential', at('ci.json'), '--cluster', 'http://127.0.0.1:9', '--group', at('plain/group.json'), '--out', at('sig.json'));
    expect([none.code, none.err]).toEqual([1, expect.stringMatching(/^error: .*has no signer policy/)]);
    const noCred = await cli('sign', '--purpose', 'release', '--file', at('policy.json'), '--credential', at('nope.json'), '--cluster', 'http://127.0.0.1:9', '--group', at('keys/group.json'), '--out', at('sig.json'));
    expect([noCred.code, noCred.err]).toEqual([1, expect.stringMatching(/^error: cannot read credential/)]);
    writeFileSync(at('junk.json'), '{"format":"sintra-edge/signature@1"}');
    const junk = await cli('sign', '--verify', at('policy.json'), at('junk.json'), '--group', at('keys/group.json'));
    expect([junk.code, junk.err]).toEqual([1, expect.stringMatching(/does not verify: expected exactly the fields/)]);
    expect(existsSync(at('sig.json'))).toBe(false);
  }, 60_000);
});
