/**
 * Admission (workers/core/admission.ts): the write routes' rate limit is charged to the connecting address
 * (or an API key), never to a header the client picks. Rotating `x-sintra-client` buys no fresh bucket; a
 * proxy header counts only when the operator names it; API keys have their own quotas; bad configuration
 * is refused with the variable named. Also over a real socket on a Node replica: the socket address counts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { afterAll, describe, expect, it } from 'vitest';
import { AdmissionConfigError, addressBucket, admissionFromEnv, clientAddress } from '../../workers/core/admission.ts';
import type { AdmissionConfig } from '../../workers/core/admission.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { SqliteStore } from '../../workers/node/sqlite-store.ts';
import { NodeReplica } from '../../workers/node/replica.ts';
import { serveReplica } from '../../workers/node/server.ts';
import { testGroup } from '../helpers/group.ts';

const { group, secrets } = testGroup(4);
const keyHash = (key: string) => bytesToHex(sha256(utf8ToBytes(key)));

/** One replica's app (it never orders alone; a submission is answered 202 pending) with rate 1/s, burst 2. */
function app(admission?: AdmissionConfig, address: string | undefined = '192.0.2.7') {
  const clock = 1_000_000;
  const host = new ReplicaHost(group, secrets[0]!, new MemoryStore(), { post: async () => ({ status: 503, body: {} }) }, () => clock, { bootstrap: true });
  const a = replicaApp(host, {
    now: () => clock,
    afterChange: () => undefined,
    clientRate: 1,
    clientBurst: 2,
    ...(admission ? { admission } : {}),
    clientAddress: (c) => c.req.header('x-test-socket') ?? address,
  });
  let i = 0;
  return (headers: Record<string, string> = {}) =>
    a.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ text: `r${i++}` }) });
}

describe('admission: who pays for a write', () => {
  it('rotating x-sintra-client does not buy a fresh bucket: the address pays', async () => {
    const post = app();
    expect((await post({ 'x-sintra-client': 'a' })).status).toBe(202);
    expect((await post({ 'x-sintra-client': 'b' })).status).toBe(202);
    const third = await post({ 'x-sintra-client': 'c' });
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(((await third.json()) as { error: { code: string } }).error.code).toBe('rate-limited');
    // another address has its own bucket
    expect((await post({ 'x-test-socket': '198.51.100.1' })).status).toBe(202);
  });

  it('an IPv6 client pays per /64: rotating the interface id buys nothing', async () => {
    const post = app();
    expect((await post({ 'x-test-socket': '2001:db8:1:2::1' })).status).toBe(202);
    expect((await post({ 'x-test-socket': '2001:db8:1:2:aaaa::9' })).status).toBe(202);
    expect((await post({ 'x-test-socket': '2001:0db8:0001:0002:ffff:1:2:3' })).status).toBe(429);
    expect((await post({ 'x-test-socket': '2001:db8:1:3::1' })).status).toBe(202);
  });

  it('x-forwarded-for counts only when the operator names it, and then its last entry', async () => {
    const ignored = app();
    expect((await ignored({ 'x-forwarded-for': '203.0.113.1' })).status).toBe(202);
    expect((await ignored({ 'x-forwarded-for': '203.0.113.2' })).status).toBe(202);
    expect((await ignored({ 'x-forwarded-for': '203.0.113.3' })).status).toBe(429);

    const trusted = app(admissionFromEnv({ SINTRA_TRUSTED_PROXY_HEADER: 'X-Forwarded-For' }));
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) expect((await trusted({ 'x-forwarded-for': ip })).status).toBe(202);
    // a client that prepends its own entries still pays for the address the proxy appended
    expect((await trusted({ 'x-forwarded-for': '10.0.0.1, 203.0.113.1' })).status).toBe(202);
    expect((await trusted({ 'x-forwarded-for': '10.0.0.2, 203.0.113.1' })).status).toBe(429);
  });

  it('API keys: own quota, unknown key 401, and required keys refuse anonymous writes', async () => {
    const keys = JSON.stringify([{ id: 'ci', sha256: keyHash('secret-ci'), rate: 1, burst: 3 }]);
    const post = app(admissionFromEnv({ SINTRA_API_KEYS: keys }));
    for (let i = 0; i < 3; i++) expect((await post({ authorization: 'Bearer secret-ci' })).status).toBe(202);
    const over = await post({ authorization: 'Bearer secret-ci' });
    expect(over.status).toBe(429);
    expect(((await over.json()) as { error: { message: string } }).error.message).toContain('API key ci');
    // the anonymous address bucket is separate
    expect((await post()).status).toBe(202);
    const bad = await post({ authorization: 'Bearer guessed' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Bearer');
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('bad-api-key');
    expect((await post({ authorization: 'Basic Y2k6eA==' })).status).toBe(401);

    const required = app(admissionFromEnv({ SINTRA_API_KEYS: keys, SINTRA_REQUIRE_API_KEY: '1' }));
    const anon = await required();
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('api-key-required');
    expect((await required({ authorization: 'Bearer secret-ci' })).status).toBe(202);
  });

  it('batch writes are charged one token per request to the same principal', async () => {
    const clock = 1_000_000;
    const host = new ReplicaHost(group, secrets[0]!, new MemoryStore(), { post: async () => ({ status: 503, body: {} }) }, () => clock, { bootstrap: true });
    const a = replicaApp(host, { now: () => clock, afterChange: () => undefined, clientRate: 1, clientBurst: 5, clientAddress: () => '192.0.2.1' });
    const batch = (n: number, tag: string, client: string) =>
      a.request('/v1/requests/batch', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sintra-client': client },
        body: JSON.stringify({ requests: Array.from({ length: n }, (_, i) => ({ text: `${tag}${i}` })) }),
      });
    expect((await batch(4, 'a', 'one')).status).toBe(200);
    expect((await batch(2, 'b', 'two')).status).toBe(429);
  });
});

describe('admission: addresses and configuration', () => {
  it('address buckets', () => {
    expect(addressBucket('192.0.2.7')).toBe('192.0.2.7');
    expect(addressBucket('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressBucket('[2001:DB8::1]')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    expect(addressBucket('1:2:3:4:5:6:7:8')).toBe('1:2:3:4::/64');
    expect(addressBucket('1:2:3:4:5:6:7:8:9')).toBe('1:2:3:4:5:6:7:8:9');
    expect(addressBucket('Proxy.Example')).toBe('proxy.example');
    expect(clientAddress({ apiKeys: [], requireApiKey: false, trustedProxyHeader: null }, { header: () => undefined, runtimeAddress: undefined })).toBe('unknown');
  });

  it('bad configuration names the variable', () => {
    const bad: [Record<string, string>, string][] = [
      [{ SINTRA_API_KEYS: 'nope' }, 'SINTRA_API_KEYS: not JSON'],
      [{ SINTRA_API_KEYS: '{}' }, 'expected a JSON array'],
      [{ SINTRA_API_KEYS: '[{"id":"a","sha256":"00","rate":1}]' }, 'SINTRA_API_KEYS[0].sha256'],
      [{ SINTRA_API_KEYS: `[{"id":"a b","sha256":"${keyHash('x')}","rate":1}]` }, 'SINTRA_API_KEYS[0].id'],
      [{ SINTRA_API_KEYS: `[{"id":"a","sha256":"${keyHash('x')}","rate":0}]` }, 'SINTRA_API_KEYS[0].rate'],
      [{ SINTRA_API_KEYS: `[{"id":"a","sha256":"${keyHash('x')}","rate":1,"quota":3}]` }, 'unknown field quota'],
      [{ SINTRA_API_KEYS: `[{"id":"a","sha256":"${keyHash('x')}","rate":1},{"id":"b","sha256":"${keyHash('x')}","rate":1}]` }, 'listed twice'],
      [{ SINTRA_REQUIRE_API_KEY: '1' }, 'no API key is configured'],
      [{ SINTRA_REQUIRE_API_KEY: 'yes' }, 'expected 1, true, 0 or false'],
      [{ SINTRA_TRUSTED_PROXY_HEADER: 'x forwarded' }, 'SINTRA_TRUSTED_PROXY_HEADER'],
    ];
    for (const [env, message] of bad) {
      expect(() => admissionFromEnv(env), JSON.stringify(env)).toThrow(AdmissionConfigError);
      expect(() => admissionFromEnv(env), JSON.stringify(env)).toThrow(message);
    }
    expect(admissionFromEnv({})).toEqual({ apiKeys: [], requireApiKey: false, trustedProxyHeader: null });
  });
});

describe('admission on a Node replica over a real socket', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('the socket address pays; x-sintra-client and an unconfigured x-forwarded-for do not matter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sintra-admission-'));
    dirs.push(dir);
    const store = await SqliteStore.open(dir);
    const replica = new NodeReplica({ group, secrets: secrets[0]!, store, peers: [null, null, null, null], clientRate: 1, host: { bootstrap: true }, log: () => undefined });
    const served = await serveReplica(replica, { port: 0 });
    try {
      const post = (i: number, headers: Record<string, string>) =>
        fetch(`${served.url}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ text: `n${i}` }) });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await post(i, { 'x-sintra-client': `client-${i}`, 'x-forwarded-for': `203.0.113.${i}` })).status);
      // burst 2 (twice the rate of 1/s), then 429 however the headers rotate
      expect(statuses).toEqual([202, 202, 429, 429]);
    } finally {
      await served.close();
    }
  });
});
