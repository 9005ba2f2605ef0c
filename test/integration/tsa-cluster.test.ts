/**
 * The group's RFC 3161 time-stamping authority on the local Miniflare cluster (four Durable Object replicas
 * over HTTP), with replica 3 Byzantine in the threshold RSA key (its key share is another number, so every
 * share it makes fails its proof). Queries made by `openssl ts -query` are POSTed to every replica, the
 * Byzantine one included; each answer is a token that `openssl ts -verify` accepts against the group's
 * root-ca.pem and tsa.pem, its serial number is the query's log position and its time the agreed time of
 * the query's epoch (within this machine's clock from before the POST to after the answer). Replica 3's
 * share is refused by its proof, a token changed in one byte fails, and a query for another policy gets
 * a rejection.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group, SecretsFile } from '../../shared/config/group.ts';
import { fromHex } from '../../shared/crypto/bytes.ts';
import { decodeSignatureShare, verifyShare } from '../../shared/crypto/threshold-rsa.ts';
import { parseTimeStampQuery } from '../../shared/crypto/tsp-query.ts';
import { prepareTimeStampToken } from '../../shared/crypto/tsp.ts';
import { tsaPolicyOid } from '../../shared/crypto/tsp-policy.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { GROUP_FILE, dealToDir, secretsFileName, structureFromThreshold, systemRandom } from '../../infra/dealer/dealer.ts';
import { startLocalCluster, waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import type { LocalCluster } from '../../infra/cluster/local-cluster.ts';
import { getJson } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';
import { BIG_PRIMES, HAVE_OPENSSL, OpensslDir } from '../helpers/rsa-ca.ts';
import { runSintra } from '../helpers/cli-process.ts';

let dataDir: string;
let cluster: LocalCluster;
let group: Group;
let dir: OpensslDir;

const verify = (q: string, r: string) => dir.run(['ts', '-verify', '-queryfile', q, '-in', r, '-CAfile', 'root-ca.pem', '-untrusted', 'tsa.pem']);

describe.runIf(HAVE_OPENSSL)('RFC 3161 time-stamping and X.509 on the Miniflare cluster (replica 3 Byzantine in the RSA key)', () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-tsa-'));
    const keysDir = join(dataDir, 'keys');
    const now = new Date();
    await dealToDir(structureFromThreshold(4, 1), {
      out: keysDir,
      rng: systemRandom,
      testOnly: false,
      rsa: { bits: 2048, primes: BIG_PRIMES, notBefore: new Date(now.getTime() - 86_400_000), notAfter: new Date(now.getTime() + 365 * 86_400_000) },
    });
    group = parseGroup(JSON.parse(readFileSync(join(keysDir, GROUP_FILE), 'utf8')));
    const file = join(keysDir, secretsFileName(group.replicas[3]!.id));
    const secrets = JSON.parse(readFileSync(file, 'utf8')) as SecretsFile;
    const shares = JSON.parse(secrets.SINTRA_KEY_SHARES) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...secrets, SINTRA_KEY_SHARES: JSON.stringify({ ...shares, rsa: '0'.repeat(511) + '7' }) }));
    cluster = await startLocalCluster({ dataDir, basePort: await freePortRange(4), newGroup: true });
    await waitUntilReady(cluster.urls, 120_000);
    dir = await OpensslDir.create('tsa-cluster');
    await dir.write('root-ca.pem', await (await fetch(`${cluster.urls[1]}/v1/ca/root.pem`)).text());
    await dir.write('tsa.pem', await (await fetch(`${cluster.urls[2]}/v1/tsa/cert.pem`)).text());
  }, 300_000);

  afterAll(async () => {
    await cluster?.dispose();
    await dir?.remove();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('every replica, the Byzantine one too, answers a token openssl verifies: serial = log position, time = agreed time', async () => {
    expect(await dir.readText('root-ca.pem')).toBe(group.rsa!.rootCertificate);
    for (let i = 0; i < 4; i++) {
      await dir.write(`d${i}.txt`, `document ${i} ${Date.now()}`);
      await dir.ok(['ts', '-query', '-data', `d${i}.txt`, '-sha256', '-cert', '-out', `q${i}.tsq`]);
      const before = Date.now();
      const res = await fetch(`${cluster.urls[i]}/v1/tsa`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: await dir.read(`q${i}.tsq`) });
      const after = Date.now();
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/timestamp-reply');
      await dir.write(`r${i}.tsr`, new Uint8Array(await res.arrayBuffer()));
      const v = await verify(`q${i}.tsq`, `r${i}.tsr`);
      expect(v.stdout + v.stderr).toMatch(/Verification: OK/);
      const text = await dir.ok(['ts', '-reply', '-in', `r${i}.tsr`, '-text']);
      const index = (await getJson(cluster.urls[0]!, `/v1/requests/${requestId(await dir.read(`q${i}.tsq`))}`)).json.index as number;
      expect(Number.parseInt(/Serial number: 0x([0-9A-F]+)/i.exec(text)![1]!, 16)).toBe(index);
      const time = Date.parse(/Time stamp: (.*)/.exec(text)![1]!);
      expect(time).toBeGreaterThanOrEqual(before - 2000);
      expect(time).toBeLessThanOrEqual(after);
      expect(text).toContain(`Policy OID: ${tsaPolicyOid(group.groupId)}`);
    }
  }, 120_000);

  it("replica 3's share fails its proof; a token changed in one byte fails; a query for another policy is rejected", async () => {
    const q = new Uint8Array(await dir.read('q0.tsq'));
    const index = (await getJson(cluster.urls[0]!, `/v1/requests/${requestId(q)}`)).json.index as number;
    const entry = (await getJson(cluster.urls[0]!, `/v1/log/entries?start=${index}&end=${index + 1}`)).json.entries[0] as { time: number };
    const parsed = parseTimeStampQuery(q, tsaPolicyOid(group.groupId));
    if (!parsed.ok) throw new Error(parsed.text);
    const prepared = prepareTimeStampToken({ query: parsed.query, policy: tsaPolicyOid(group.groupId), serial: BigInt(index), genTime: new Date(entry.time), tsaCertificate: pemToDer(group.rsa!.tsaCertificate, 'CERTIFICATE') });
    const shareOf = async (i: number) => decodeSignatureShare(group.rsa!.publicKey, fromHex((await getJson(cluster.urls[i]!, `/v1/tsa/shares/${index}`)).json.share as string));
    expect(verifyShare(group.rsa!.publicKey, prepared.digest, await shareOf(1))).toBe(true);
    expect(verifyShare(group.rsa!.publicKey, prepared.digest, await shareOf(3))).toBe(false);

    const reply = new Uint8Array(await dir.read('r0.tsr'));
    for (const at of [reply.length - 3, Math.floor(reply.length / 2), 60]) {
      const bad = reply.slice();
      bad[at]! ^= 0x01;
      await dir.write('bad.tsr', bad);
      expect((await verify('q0.tsq', 'bad.tsr')).code, `byte ${at}`).not.toBe(0);
    }

    await dir.ok(['ts', '-query', '-data', 'd0.txt', '-sha256', '-tspolicy', '1.2.3.4', '-out', 'p.tsq']);
    const res = await fetch(`${cluster.urls[2]}/v1/tsa`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: await dir.read('p.tsq') });
    expect(res.status).toBe(200);
    await dir.write('p.tsr', new Uint8Array(await res.arrayBuffer()));
    expect(await dir.ok(['ts', '-reply', '-in', 'p.tsr', '-text'])).toMatch(/Status: Rejected[\s\S]*requested TSA policy is not supported/);
  }, 120_000);

  it('sintra ca issue: a registered name gets an X.509 certificate that openssl verify accepts under root-ca.pem, through the Byzantine replica too', async () => {
    const groupFile = join(dataDir, 'keys', GROUP_FILE);
    const cl = (...i: number[]) => i.flatMap((k) => ['--cluster', cluster.urls[k]!]);
    const ok = async (args: string[]) => {
      const r = await runSintra(args, { cwd: dir.dir, timeoutMs: 120_000 });
      expect(r.code, `${args.join(' ')}\n${r.err}`).toBe(0);
      return r;
    };
    await ok(['ca', 'keygen', '--out', 'alice.key']);
    await ok(['ca', 'register', 'alice', '--key', 'alice.key', ...cl(0, 1), '--group', groupFile, '--valid-for', '86400']);
    await ok(['ca', 'export-key', '--key', 'alice.key', '--out', 'alice.pem']);
    await dir.ok(['req', '-new', '-key', 'alice.pem', '-subj', '/CN=alice', '-out', 'alice.csr']);
    // Replica 3 first: it answers with the certificate its peers' shares make (its own fails its proof).
    const issued = await ok(['ca', 'issue', '--csr', 'alice.csr', ...cl(3, 0), '--group', groupFile, '--out', 'alice.crt', '--json']);
    const j = JSON.parse(issued.out) as { name: string; serial: string; index: number; from: string };
    expect(j).toMatchObject({ name: 'alice', from: cluster.urls[3] });
    expect(Number.parseInt(j.serial, 16)).toBe(j.index + 1);
    const v = await dir.run(['verify', '-CAfile', 'root-ca.pem', 'alice.crt']);
    expect(v.stdout + v.stderr).toMatch(/alice\.crt: OK/);
    // Another replica serves the same certificate for that position.
    expect(await (await fetch(`${cluster.urls[1]}/v1/ca/x509/${j.index}`)).text()).toBe(await dir.readText('alice.crt'));
    // A CSR for alice with another key is refused by the CA (exit 1, nothing written).
    await dir.ok(['genpkey', '-algorithm', 'ed25519', '-out', 'mallory.pem']);
    await dir.ok(['req', '-new', '-key', 'mallory.pem', '-subj', '/CN=alice', '-out', 'mallory.csr']);
    const m = await runSintra(['ca', 'issue', '--csr', 'mallory.csr', ...cl(0), '--group', groupFile, '--out', 'mallory.crt'], { cwd: dir.dir, timeoutMs: 120_000 });
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/refused the certificate for alice: bad-csr/);
  }, 240_000);
});
