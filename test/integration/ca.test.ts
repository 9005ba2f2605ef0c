/**
 * The certification authority and directory end to end on the local cluster (four Durable Object replicas
 * in Miniflare, HTTP on loopback): register through the SDK, a duplicate name refused, lookups proving a
 * name present or absent from group-signed statements on every replica, revoke then lookup showing it
 * revoked, the CA's answer by request id, bad input refused with stable codes, the `sintra ca` CLI (keygen,
 * register, lookup, verify, revoke; exit codes; lookup's exit 3 and keygen's refusal also as a process),
 * and forged or modified statements rejected by verifyDirectoryStatement, the CLI and the SDK (a proxy in
 * front of replica 0 that forges them).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { nodeFetch } from '../../infra/cli/stamp.ts';
import { startLocalCluster, waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import type { LocalCluster } from '../../infra/cluster/local-cluster.ts';
import { ed25519PublicKey, encodeCaRequest, registerRequest, revokeRequest, verifyDirectoryStatement } from '../../shared/app/ca.ts';
import { CaRefusedError, SintraClient } from '../../shared/client/sdk.ts';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { lines, runSintra } from '../helpers/cli-process.ts';
import { getJson, http, sleep, waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

/** Replica i listens on BASE_PORT + i: a free range picked in beforeAll (ranges fixed by pid collided across files). */
let BASE_PORT = 0;
let dataDir: string;
let cluster: LocalCluster;
let group: Group;
let proxy: Server;
let proxyUrl: string;

const ALICE = new Uint8Array(32).fill(1);
const MALLORY = new Uint8Array(32).fill(2);

async function sintra(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

function client(urls: readonly string[], log?: string[]): SintraClient {
  return new SintraClient({ group, urls, fetch: nodeFetch, sleep, timeoutMs: 40_000, ...(log ? { log: (l) => void log.push(l) } : {}) });
}

function flipHex(s: string, at = 10): string {
  return s.slice(0, at) + (s[at] === '0' ? '1' : '0') + s.slice(at + 1);
}

const post = (url: string, body: unknown, type = 'application/json') =>
  http(`${url}/v1/ca/requests`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('certification authority on the local cluster', () => {
  beforeAll(async () => {
    BASE_PORT = await freePortRange(16);
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-ca-'));
    cluster = await startLocalCluster({ dataDir, n: 4, basePort: BASE_PORT });
    await waitUntilReady(cluster.urls);
    group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    // A lying replica at the client interface: replica 0's answers, with every directory statement
    // claiming the name holds another key (the proof then does not lead to the CA root).
    proxy = createServer(async (req, res) => {
      const r = await http(`${cluster.urls[0]}${req.url}`, { method: req.method, headers: { 'content-type': String(req.headers['content-type'] ?? '') }, body: req.method === 'POST' ? await new Response(req as unknown as ReadableStream).text() : undefined });
      let text = await r.text();
      if (req.url?.startsWith('/v1/ca/names/') && r.status === 200) {
        const j = JSON.parse(text);
        if (j.record) j.record.key = toHex(ed25519PublicKey(MALLORY));
        else j.proof = flipHex(j.proof, 70);
        text = JSON.stringify(j);
      }
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(text);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  }, 120_000);

  afterAll(async () => {
    proxy?.closeAllConnections();
    await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
    await cluster?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('SDK: register, duplicate refused, lookups present and absent on every replica, revoke', async () => {
    const log: string[] = [];
    const r = await client(cluster.urls, log).caRegister('alice', ALICE, 1000);
    expect(r.verdict).toMatchObject({ ok: true, name: 'alice', present: true, status: 'active' });
    // Valid for 1,000 seconds from the agreed time of the request's epoch (this machine's clock, give or take).
    expect(r.verdict.record).toMatchObject({ v: 2, key: toHex(ed25519PublicKey(ALICE)), serial: 1, index: r.index });
    expect(r.verdict.record!.notAfter - r.verdict.record!.notBefore).toBe(1_000_000);
    expect(Math.abs(r.verdict.record!.notBefore - Date.now())).toBeLessThan(120_000);
    expect(r.verdict.record!.notBefore).toBeLessThanOrEqual(r.verdict.checkpoint.time!);
    expect(r.response).toMatchObject({ ok: true, op: 'register', index: r.index });
    expect(r.acceptedBy).toHaveLength(2);
    expect(verifyDirectoryStatement(group, r.statement).ok).toBe(true);

    // Every replica proves the same record once its checkpoint covers the request.
    for (const url of cluster.urls) {
      const st = await waitFor(async () => {
        const g = await getJson(url, '/v1/ca/names/alice');
        return g.status === 200 && g.json.checkpoint.size > r.index ? g.json : null;
      }, `alice certified at ${url}`);
      expect(verifyDirectoryStatement(group, st)).toMatchObject({ ok: true, status: 'active', record: r.verdict.record });
      const q = await getJson(url, `/v1/ca/requests/${r.id}`);
      expect(q.status).toBe(200);
      expect(q.json).toMatchObject({ id: r.id, status: 'certified', index: r.index, response: { ok: true, op: 'register', certificate: r.verdict.record } });
      expect(q.json.receipt.index).toBe(r.index);
    }

    // The name is taken: refused by the replicas before ordering (409), and by the SDK as a CA refusal.
    const dup = await post(cluster.urls[1]!, { request: registerRequest(group.groupId, 'alice', MALLORY, 10) });
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as { error: { code: string } }).error.code).toBe('name-taken');
    const refused = await client(cluster.urls).caRegister('alice', MALLORY, 10).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CaRefusedError);
    expect((refused as CaRefusedError).code).toBe('name-taken');

    // Absent: a non-membership proof under the signed root.
    const none = await client(cluster.urls.slice(2)).caLookup('nobody', { wait: true });
    expect(none.verdict).toMatchObject({ ok: true, present: false, status: 'absent', record: null });

    // Revoke (serial looked up from a verified statement), then lookups show it revoked.
    const rv = await client([cluster.urls[3]!, cluster.urls[0]!]).caRevoke('alice', ALICE);
    expect(rv.verdict).toMatchObject({ status: 'revoked', record: { serial: 1, revokedAt: rv.index } });
    const after = await client([cluster.urls[2]!]).caLookup('alice', { wait: true, minSize: rv.index + 1 });
    expect(after.verdict.status).toBe('revoked');
    // Revoked is final: refused before ordering; a stale signed revoke as well.
    const again = await post(cluster.urls[0]!, { request: revokeRequest(group.groupId, 'alice', 1, ALICE) });
    expect([200, 409]).toContain(again.status); // 200: the very same request bytes, already ordered
    const renewLike = await client(cluster.urls).caRevoke('alice', ALICE).catch((e: unknown) => e);
    expect(renewLike).toBeInstanceOf(CaRefusedError);
    expect((renewLike as CaRefusedError).code).toBe('revoked');
  }, 60_000);

  it('bad input: stable 4xx codes, nothing ordered', async () => {
    const url = cluster.urls[2]!;
    const good = registerRequest(group.groupId, 'carol', ALICE, 50);
    const cases: [unknown, number, string, string?][] = [
      ['{', 400, 'malformed-json'],
      [{ req: good }, 400, 'bad-request'],
      [{ request: [] }, 400, 'bad-request'],
      [{ request: { ...good, op: 'delete' } }, 400, 'unknown-op'],
      [{ request: { ...good, extra: 1 } }, 400, 'bad-request'],
      [{ request: { ...good, name: 'Carol' } }, 400, 'bad-name'],
      [{ request: { ...good, key: good.key.toUpperCase() } }, 400, 'bad-key'],
      [{ request: { ...good, validFor: 0 } }, 400, 'bad-validity'],
      [{ request: { ...good, validFor: 1.5 } }, 400, 'bad-validity'],
      [{ request: { ...good, pop: flipHex(good.pop) } }, 400, 'bad-signature'],
      [{ request: good }, 415, 'unsupported-media-type', 'text/plain'],
    ];
    const before = (await getJson(url, '/v1/health')).json.logSize as number;
    for (const [body, status, code, type] of cases) {
      const r = await post(url, body, type);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(((await r.json()) as { error: { code: string } }).error.code, JSON.stringify(body)).toBe(code);
    }
    expect((await getJson(url, '/v1/metrics')).json.engine.pending).toBe(0);
    expect((await getJson(url, '/v1/health')).json.logSize).toBe(before);
    expect((await getJson(url, '/v1/ca/names/Not-A-Name')).json.error.code).toBe('bad-name');
    expect((await getJson(url, '/v1/ca/requests/xyz')).json.error.code).toBe('bad-id');
    const unknown = await getJson(url, `/v1/ca/requests/${requestId(encodeCaRequest(good))}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('unknown-request');
  }, 30_000);

  it('a forged or modified statement is rejected: verifyDirectoryStatement, the SDK (liar recorded) and the CLI', async () => {
    const honest = (await getJson(cluster.urls[1]!, '/v1/ca/names/alice')).json;
    expect(verifyDirectoryStatement(group, honest).ok).toBe(true);
    const forgeries: [string, unknown, RegExp][] = [
      ['key', { ...honest, record: { ...honest.record, key: toHex(ed25519PublicKey(MALLORY)) } }, /proof/],
      ['status', { ...honest, record: { ...honest.record, status: 'active', revokedAt: null } }, /proof/],
      ['absent', { ...honest, record: null }, /proof/],
      ['signature', { ...honest, checkpoint: { ...honest.checkpoint, signature: flipHex(honest.checkpoint.signature, 30) } }, /signature|checkpoint/],
      ['ca root', { ...honest, ca: { ...honest.ca, root: flipHex(honest.ca.root) } }, /CA digest/],
      ['apps', { ...honest, apps: [...honest.apps].reverse() }, /state digest/],
      ['name', { ...honest, name: 'bob' }, /name/],
    ];
    for (const [what, forged, why] of forgeries) {
      const v = verifyDirectoryStatement(group, forged);
      expect(v.ok, what).toBe(false);
      expect((v as { reason: string }).reason, what).toMatch(why);
      const path = join(dataDir, `forged-${what.replace(' ', '-')}.json`);
      writeFileSync(path, JSON.stringify(forged));
      const c = await sintra('ca', 'verify', path, '--group', cluster.groupPath);
      expect(c.code, what).toBe(1);
      expect(c.err, what).toMatch(/^error: invalid directory statement/m);
    }
    const good = join(dataDir, 'alice.statement.json');
    writeFileSync(good, JSON.stringify(honest));
    const ok = await sintra('ca', 'verify', good, '--group', cluster.groupPath, '--name', 'alice', '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ valid: true, name: 'alice', status: 'revoked' });
    expect((await sintra('ca', 'verify', good, '--group', cluster.groupPath, '--name', 'bob')).code).toBe(1);

    // SDK: the lying proxy alone yields nothing and is recorded; next to an honest replica, the honest answer wins.
    const log: string[] = [];
    const alone = client([proxyUrl], log);
    await expect(alone.caLookup('alice')).rejects.toThrow(/no replica served/);
    expect(alone.liarList()).toEqual([{ url: proxyUrl, reason: expect.stringMatching(/proof/) }]);
    expect(log.join('\n')).toMatch(/not asking it again/);
    const absent = client([proxyUrl]);
    await expect(absent.caLookup('nobody-at-all')).rejects.toThrow(/no replica served/);
    const mixed = await client([proxyUrl, cluster.urls[3]!]).caLookup('alice', { wait: true });
    expect(mixed.from).toBe(cluster.urls[3]);
    expect(mixed.verdict.status).toBe('revoked');
  }, 30_000);

  it('CLI: keygen, register, lookup (present, absent), duplicate refused, renew, rotate, revoke; exit codes', async () => {
    const key = join(dataDir, 'bob.key');
    const kg = await sintra('ca', 'keygen', '--out', key, '--json');
    expect(kg.code).toBe(0);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const { publicKey } = JSON.parse(kg.out) as { publicKey: string };
    expect(JSON.parse(readFileSync(key, 'utf8'))).toMatchObject({ format: 'sintra-edge/ca-key@1', publicKey });
    expect((await sintra('ca', 'keygen', '--out', key)).code).toBe(1); // never overwrites

    const cl = ['--cluster', cluster.urls[0]!, '--cluster', cluster.urls[1]!, '--group', cluster.groupPath];
    const reg = await sintra('ca', 'register', 'bob', '--key', key, ...cl, '--valid-for', '500', '--json');
    expect(reg.err).not.toMatch(/^error/m);
    expect(reg.code).toBe(0);
    const rj = JSON.parse(reg.out);
    expect(rj).toMatchObject({ ok: true, op: 'register', name: 'bob', status: 'active', record: { key: publicKey, index: rj.index } });
    expect(rj.record.notAfter - rj.record.notBefore).toBe(500_000); // --valid-for is in seconds
    expect(verifyDirectoryStatement(group, rj.statement).ok).toBe(true);

    const statement = join(dataDir, 'bob.statement.json');
    const lk = await sintra('ca', 'lookup', 'bob', '--cluster', cluster.urls[2]!, '--group', cluster.groupPath, '--out', statement);
    expect(lk.code).toBe(0);
    expect(lk.out).toMatch(/^bob: active, serial \d+, key [0-9a-f]{64}/);
    expect(lk.err).toMatch(/warning: the replicas reached \(.*\) are not a kernel/); // one replica of four
    expect((await sintra('ca', 'verify', statement, '--group', cluster.groupPath)).code).toBe(0);
    // The statement is evidence: not overwritten without --force (checked before asking anyone).
    const kept = readFileSync(statement, 'utf8');
    const refused = await sintra('ca', 'lookup', 'bob', '--cluster', cluster.urls[2]!, '--group', cluster.groupPath, '--out', statement);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^error: .*bob\.statement\.json exists .*--force/m);
    expect(readFileSync(statement, 'utf8')).toBe(kept);
    expect((await sintra('ca', 'lookup', 'bob', '--cluster', cluster.urls[2]!, '--group', cluster.groupPath, '--out', statement, '--force')).code).toBe(0);
    const ab = await sintra('ca', 'lookup', 'nobody', '--cluster', cluster.urls[3]!, '--trust-served-group', '--json');
    expect(ab.code).toBe(3); // verified, but not active: `lookup nobody && use-key` must not go on
    expect(JSON.parse(ab.out)).toMatchObject({ valid: true, present: false, status: 'absent' });

    const dup = await sintra('ca', 'register', 'bob', '--key', key, ...cl);
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/^error: the CA refused to register bob.*name-taken/m);

    // Renew (same key, next serial), then rotate to a new key; the old key can no longer act.
    const rn = await sintra('ca', 'renew', 'bob', '--key', key, ...cl, '--valid-for', '700', '--json');
    expect(rn.err).not.toMatch(/^error/m);
    expect(JSON.parse(rn.out)).toMatchObject({ ok: true, op: 'renew', status: 'active', record: { key: publicKey, serial: rj.record.serial + 1 } });
    const key2 = join(dataDir, 'bob2.key');
    const kg2 = JSON.parse((await sintra('ca', 'keygen', '--out', key2, '--json')).out) as { publicKey: string };
    const ro = await sintra('ca', 'rotate', 'bob', '--key', key, '--new-key', key2, ...cl, '--json');
    expect(ro.err).not.toMatch(/^error/m);
    expect(JSON.parse(ro.out)).toMatchObject({ ok: true, op: 'rotate', record: { key: kg2.publicKey, serial: rj.record.serial + 2 } });
    const oldKey = await sintra('ca', 'revoke', 'bob', '--key', key, ...cl);
    expect(oldKey.code).toBe(1);
    expect(oldKey.err).toMatch(/^error: the CA refused to revoke bob.*bad-signature/m); // the freshest statement names the rotated serial

    const rv = await sintra('ca', 'revoke', 'bob', '--key', key2, ...cl);
    expect(rv.err).not.toMatch(/^error/m);
    expect(rv.code).toBe(0);
    expect(rv.out).toMatch(/^revoked bob at log index \d+/);
    // A lookup answers from the replica's latest checkpoint: once that covers the revoke, it shows it.
    const lk2 = await waitFor(async () => {
      const l = await sintra('ca', 'lookup', 'bob', '--cluster', cluster.urls[2]!, '--group', cluster.groupPath, '--json');
      return l.code === 3 && JSON.parse(l.out).status === 'revoked' ? l : null;
    }, 'bob revoked at replica 2', 20_000);
    expect(JSON.parse(lk2.out).record).toMatchObject({ status: 'revoked', key: kg2.publicKey });

    // Usage errors: exit 2.
    expect((await sintra('ca', 'register', 'bob', ...cl)).code).toBe(2);
    expect((await sintra('ca', 'register', 'Bob!', '--key', key, ...cl)).code).toBe(2);
    expect((await sintra('ca', 'lookup', 'bob')).code).toBe(2);
    expect((await sintra('ca', 'lookup', 'bob', '--cluster', cluster.urls[2]!)).code).toBe(2); // neither --group nor --trust-served-group
    expect((await sintra('ca', 'keygen')).code).toBe(2);
    expect((await sintra('ca', 'verify', statement)).code).toBe(2);
    expect((await sintra('ca', 'register', 'bob', '--key', key, '--valid-for', '0', ...cl)).code).toBe(2);
  }, 60_000);

  it('as a process (node infra/bin/sintra.mjs): lookup exits 3 for a revoked and an absent name, needs --group or --trust-served-group (which warns); keygen onto an existing file is one clear line', async () => {
    // After the CLI test above: bob is revoked, and replica 2's checkpoint covers it.
    const key = join(dataDir, 'bob.key');
    const keyText = readFileSync(key, 'utf8');
    const pinned = ['--cluster', cluster.urls[2]!, '--group', cluster.groupPath];
    const [revoked, absent, keygen, unpinned, served] = await Promise.all([
      runSintra(['ca', 'lookup', 'bob', ...pinned]),
      runSintra(['ca', 'lookup', 'nobody-here', ...pinned, '--json']),
      runSintra(['ca', 'keygen', '--out', key]),
      runSintra(['ca', 'lookup', 'bob', '--cluster', cluster.urls[2]!]),
      runSintra(['ca', 'lookup', 'bob', '--cluster', cluster.urls[2]!, '--trust-served-group']),
    ]);
    // A statement is only as good as the key it is checked with: no group choice is a usage error (exit 2);
    // the served key is taken only when asked, with what that means and that one replica is not a kernel.
    expect(unpinned.code).toBe(2);
    expect(unpinned.out).toBe('');
    expect(lines(unpinned.err)).toHaveLength(1);
    expect(unpinned.err).toMatch(/give --group group\.json .* or --trust-served-group/);
    expect(served.code, served.err).toBe(3);
    expect(served.err).toMatch(/^warning: --trust-served-group: trusting group [0-9a-f]{16}\.\.\. as served by http:\/\/127\.0\.0\.1:\d+; a Byzantine replica can serve a key of its own/m);
    expect(served.err).toMatch(/^warning: the replicas reached \(r3\) are not a kernel of the group/m);
    expect(served.out).toMatch(/^bob: revoked/m);
    expect(revoked.code, revoked.err).toBe(3);
    expect(revoked.out).toMatch(/^bob: revoked, serial \d+, key [0-9a-f]{64}, revoked at log index \d+; checkpoint size \d+, epoch \d+$/m);
    expect(revoked.err).not.toMatch(/^error/m);
    expect(absent.code, absent.err).toBe(3);
    expect(JSON.parse(absent.out)).toMatchObject({ valid: true, name: 'nobody-here', present: false, status: 'absent' });
    // `ca keygen` never overwrites a key: one line, no raw EEXIST.
    expect(keygen.code).toBe(1);
    expect(keygen.out).toBe('');
    expect(lines(keygen.err)).toEqual([`error: ${key} exists (it may be the only copy of a registered name's key); keys are never overwritten: give another --out`]);
    expect(readFileSync(key, 'utf8')).toBe(keyText);
  }, 60_000);

  it('serves the CA routes in its OpenAPI document', async () => {
    const r = await getJson(cluster.urls[0]!, '/v1/openapi.json');
    expect(Object.keys(r.json.paths)).toEqual(expect.arrayContaining(['/v1/ca/requests', '/v1/ca/requests/{id}', '/v1/ca/names/{name}']));
    expect((await getJson(cluster.urls[0]!, '/v1/info')).json.apps).toEqual(['notary', 'ca', 'signer']);
  });
});
