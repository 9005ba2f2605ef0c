/**
 * The signing service (docs/signer.md) on the local Miniflare cluster and on a mixed cluster (two Node
 * replicas) over real HTTP, with replica 3
 * Byzantine in the kernel key (its key share is wrong, so every signature share it serves is invalid, and
 * so are its coin and checkpoint shares): `sintra sign` gets a signature that `sintra sign --verify` and
 * every replica's document confirm, replica 3's own share does not verify while the honest ones do, a
 * request the policy refuses that is ordered anyway (through the plain request route, around the signing
 * route's check) gets no share from any replica, a document altered in one byte fails, and a policy change
 * through `sintra signer policy approve` / `submit` lets a new client sign.
 *
 * Keys are dealt here (as `sintra start` deals them) so that replica 3's secrets can be corrupted before it
 * starts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group, SecretsFile } from '../../shared/config/group.ts';
import { fromHex, toBase64, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { decodeSignatureShare } from '../../shared/crypto/threshold-bls.ts';
import { signingPoint, verifyGroupSignShare } from '../../shared/crypto/group-sign.ts';
import { ed25519Signer } from '../../shared/crypto/ed25519.ts';
import { signRequest } from '../../shared/app/signer.ts';
import { parseSignerPolicy } from '../../shared/app/signer-policy.ts';
import { verifySignatureDocument } from '../../shared/client/signer.ts';
import { GROUP_FILE, dealToDir, secretsFileName, structureFromThreshold, systemRandom } from '../../infra/dealer/dealer.ts';
import { newCredential, writeCredential } from '../../infra/dealer/signer-credential.ts';
import { startLocalCluster } from '../../infra/cluster/local-cluster.ts';
import { startMixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import { main } from '../../infra/cli/main.ts';
import { getJson, http, sleep, waitFor } from '../helpers/http.ts';
import { roundAt } from '../../shared/crypto/beacon.ts';
import { freePortRange } from '../helpers/ports.ts';

let dataDir: string;
let cluster: { readonly urls: readonly string[]; dispose(): Promise<void> };
let group: Group;
const admin = newCredential('admin');
const ci = newCredential('ci');
const web = newCredential('web');

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describe.each([
  ['the local cluster (4 Durable Object replicas)', false],
  ['a mixed cluster (replicas 2 and 3 on Node with file stores)', true],
] as const)('signing service on %s, replica 3 Byzantine in the kernel key', (_what, mixed) => {
  beforeAll(async () => {
    const basePort = await freePortRange(16);
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-signer-'));
    const keysDir = join(dataDir, 'keys');
    const signerPolicy = parseSignerPolicy({
      version: 1,
      admins: { threshold: 1, keys: { admin: admin.publicKey } },
      clients: { ci: { publicKey: ci.publicKey }, web: { publicKey: web.publicKey } },
      purposes: { release: { clients: ['ci'], maxMessageBytes: 4096 }, code: { clients: ['ci'], maxMessageBytes: 4096, scheme: 'rsa-pkcs1-sha256' } },
    });
    const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/threshold-rsa-primes.json'), 'utf8')) as { modulus2048: { p: string; q: string } };
    const primes = { p: BigInt(`0x${fixture.modulus2048.p}`), q: BigInt(`0x${fixture.modulus2048.q}`) };
    await dealToDir(structureFromThreshold(4, 1), {
      out: keysDir,
      rng: systemRandom,
      testOnly: false,
      signerPolicy,
      signerRsa: { bits: 2048, primes },
      beacon: { period: 1, genesisTime: Math.floor(Date.now() / 1000) },
    });
    for (const [name, c] of [['admin.json', admin], ['ci.json', ci], ['web.json', web]] as const) await writeCredential(join(dataDir, name), c);
    writeFileSync(join(dataDir, 'release.txt'), 'release 1.0.0 sha256=0f1e2d\n');
    group = parseGroup(JSON.parse(readFileSync(join(keysDir, GROUP_FILE), 'utf8')));
    // Replica 3's kernel share becomes another scalar: a Byzantine replica whose shares are all invalid.
    const file = join(keysDir, secretsFileName(group.replicas[3]!.id));
    const secrets = JSON.parse(readFileSync(file, 'utf8')) as SecretsFile;
    const shares = JSON.parse(secrets.SINTRA_KEY_SHARES) as Record<string, unknown>;
    // And its share of the signing RSA key: its RSA shares' proofs fail.
    writeFileSync(file, JSON.stringify({ ...secrets, SINTRA_KEY_SHARES: JSON.stringify({ ...shares, kernel: ['0'.repeat(63) + '7'], signerRsa: '0'.repeat(511) + '7' }) }));
    cluster = mixed ? await startMixedCluster({ dataDir, basePort, newGroup: true, nodeIndices: [2, 3] }) : await startLocalCluster({ dataDir, basePort, newGroup: true });
    for (const url of cluster.urls) await waitFor(async () => ((await getJson(url, '/v1/info')).status === 200 ? true : null), `${url}/v1/info`, 120_000);
  }, 300_000);

  afterAll(async () => {
    await cluster?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const groupFile = () => join(dataDir, 'keys', GROUP_FILE);
  const clusterArgs = () => cluster.urls.flatMap((u) => ['--cluster', u]);

  it('signs under the policy; every replica serves the same signature; the Byzantine replica\'s share is refused', async () => {
    const sig = join(dataDir, 'sig.json');
    const r = await cli(['sign', '--purpose', 'release', '--file', join(dataDir, 'release.txt'), '--credential', join(dataDir, 'ci.json'), ...clusterArgs(), '--group', groupFile(), '--out', sig, '--json']);
    expect(r.code, r.err).toBe(0);
    const { id } = JSON.parse(r.out) as { id: string };
    const v = await cli(['sign', '--verify', join(dataDir, 'release.txt'), sig, '--group', groupFile()]);
    expect(v.code, v.err).toBe(0);
    expect(v.out).toMatch(/^valid: the group signed/);
    const message = readFileSync(join(dataDir, 'release.txt'));
    const signatures = new Set<string>();
    for (const url of cluster.urls) {
      const doc = await getJson(url, `/v1/sign/${id}`);
      expect(doc.status).toBe(200);
      expect(verifySignatureDocument(group, doc.json, { message: new Uint8Array(message) }).ok).toBe(true);
      signatures.add((doc.json as { signature: string }).signature);
    }
    expect(signatures.size).toBe(1);
    // The shares: replica 3's does not verify against its verification key, the others do.
    const h = signingPoint(group.groupId, 'release', new Uint8Array(message));
    for (const [i, url] of cluster.urls.entries()) {
      const s = await getJson(url, `/v1/sign/shares/${id}`);
      expect(s.status).toBe(200);
      const share = decodeSignatureShare(group.kernel.scheme, fromHex((s.json as { share: string }).share));
      expect(verifyGroupSignShare(group.kernel, h, share), `replica ${i}`).toBe(i !== 3);
    }
    // One byte of the saved document changed: refused.
    const doc = JSON.parse(readFileSync(sig, 'utf8')) as { signature: string };
    const altered = join(dataDir, 'altered.json');
    writeFileSync(altered, JSON.stringify({ ...doc, signature: doc.signature.slice(0, 40) + (doc.signature[40] === 'a' ? 'b' : 'a') + doc.signature.slice(41) }));
    expect((await cli(['sign', '--verify', join(dataDir, 'release.txt'), altered, '--group', groupFile()])).code).toBe(1);
  }, 180_000);

  it('an RSA purpose: sintra sign writes the raw signature, openssl verifies it with the key sintra signer rsa-key derives', async () => {
    const r = await cli(['sign', '--purpose', 'code', '--file', join(dataDir, 'release.txt'), '--credential', join(dataDir, 'ci.json'), ...clusterArgs(), '--group', groupFile(), '--out', join(dataDir, 'code.json'), '--signature-out', join(dataDir, 'code.sig')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/rsa-pkcs1-sha256 signature/);
    expect((await cli(['signer', 'rsa-key', '--group', groupFile(), '--out', join(dataDir, 'signer-rsa.pem')])).code).toBe(0);
    // The same key every replica serves.
    expect(await (await http(`${cluster.urls[3]}/v1/sign/rsa.pem`)).text()).toBe(readFileSync(join(dataDir, 'signer-rsa.pem'), 'utf8'));
    const ok = execFileSync('openssl', ['dgst', '-sha256', '-verify', join(dataDir, 'signer-rsa.pem'), '-signature', join(dataDir, 'code.sig'), join(dataDir, 'release.txt')]).toString();
    expect(ok).toMatch(/Verified OK/);
    expect((await cli(['sign', '--verify', join(dataDir, 'release.txt'), join(dataDir, 'code.json'), '--group', groupFile()])).code).toBe(0);
  }, 120_000);

  it('a refused request ordered around the signing route gets no share from any replica', async () => {
    const entry = signRequest(group.groupId, 'web', 'release', utf8ToBytes('not allowed'), ed25519Signer(web.secretKey));
    const id = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', entry)));
    const sub = await http(`${cluster.urls[0]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: toBase64(entry) }) });
    expect(sub.status).toBe(202);
    for (const url of cluster.urls) {
      await waitFor(async () => ((await getJson(url, `/v1/sign/requests/${id}`)).status === 200 ? true : null), `${url} executed ${id}`, 60_000);
      expect((await getJson(url, `/v1/sign/requests/${id}`)).json).toMatchObject({ op: 'sign', ok: false, code: 'not-allowed' });
      expect((await getJson(url, `/v1/sign/shares/${id}`)).status).toBe(403);
      expect((await getJson(url, `/v1/sign/${id}`)).status).toBe(403);
    }
  }, 120_000);

  it('an audit sample bound to a beacon round still to come, revealed once it is due, draws from the signatures issued', async () => {
    const b = group.beacon!;
    const round = roundAt(Date.now(), b.genesisTime, b.period) + 3;
    const a = await cli(['signer', 'audit', '--count', '1', '--round', String(round), ...clusterArgs(), '--group', groupFile(), '--json']);
    expect(a.code, a.err).toBe(0);
    const { audit, population } = JSON.parse(a.out) as { audit: string; population: number };
    expect(population).toBeGreaterThanOrEqual(1);
    const early = await cli(['signer', 'reveal', audit, ...clusterArgs(), '--group', groupFile()]);
    expect([early.code, early.err]).toEqual([1, expect.stringMatching(/is due at .*reveal after that/)]);
    while (roundAt(Date.now(), b.genesisTime, b.period) < round) await sleep(200);
    const r = await cli(['signer', 'reveal', audit, ...clusterArgs(), '--group', groupFile(), '--json']);
    expect(r.code, r.err).toBe(0);
    const { sample } = JSON.parse(r.out) as { sample: string[] };
    expect(sample).toHaveLength(1);
    // Every replica drew the same sample, and it is a signature the group issued.
    for (const url of cluster.urls) expect((await getJson(url, `/v1/sign/requests/${audit}`)).json).toMatchObject({ op: 'audit', sample });
    expect((await getJson(cluster.urls[0]!, `/v1/sign/requests/${sample[0]}`)).json).toMatchObject({ op: 'sign', ok: true });
    // A round already due cannot be scheduled.
    const late = await cli(['signer', 'audit', '--count', '1', '--round', '1', ...clusterArgs(), '--group', groupFile()]);
    expect([late.code, late.err]).toEqual([1, expect.stringMatching(/was due at/)]);
  }, 120_000);

  it('a policy change approved by the administrator lets a new client sign', async () => {
    const policy = JSON.parse(JSON.stringify(group.signer!.policy)) as { version: number; purposes: Record<string, { clients: string[] }> };
    policy.version = 2;
    policy.purposes['release']!.clients = ['ci', 'web'];
    writeFileSync(join(dataDir, 'p2.json'), JSON.stringify(policy));
    const ap = await cli(['signer', 'policy', 'approve', '--policy', join(dataDir, 'p2.json'), '--credential', join(dataDir, 'admin.json'), '--group', groupFile(), '--out', join(dataDir, 'ap.json')]);
    expect(ap.code, ap.err).toBe(0);
    const sub = await cli(['signer', 'policy', 'submit', '--policy', join(dataDir, 'p2.json'), '--approval', join(dataDir, 'ap.json'), ...clusterArgs(), '--group', groupFile()]);
    expect(sub.code, sub.err).toBe(0);
    expect(sub.out).toMatch(/policy version 2 is in force/);
    const get = await cli(['signer', 'policy', 'get', '--cluster', cluster.urls[2]!, '--group', groupFile(), '--json']);
    expect(JSON.parse(get.out)).toMatchObject({ verified: true, policy: { version: 2 } });
    const r = await cli(['sign', '--purpose', 'release', '--file', join(dataDir, 'release.txt'), '--credential', join(dataDir, 'web.json'), ...clusterArgs(), '--group', groupFile(), '--out', join(dataDir, 'sig-web.json')]);
    expect(r.code, r.err).toBe(0);
  }, 180_000);
});
