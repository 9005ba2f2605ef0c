/**
 * Node replica configuration (workers/node/config.ts): group and secrets from variables, peers, store
 * choice; every mistake is a ConfigError naming the variable. And the Node replica's own routes over an
 * in-memory store: POST /v1/tick, health. And workers/node/main.ts as its own process: JSON log lines only.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deal } from '../../shared/config/deal.ts';
import { ConfigError } from '../../shared/config/group.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { loadGroup, loadSecrets, parsePeers, storeSpecFromEnv } from '../../workers/node/config.ts';
import { NodeReplica } from '../../workers/node/replica.ts';
import { StoreConflictError, StoreNotDurableError } from '../../workers/node/store-errors.ts';
import { waitFor } from '../helpers/http.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'workers/node/main.ts');

const out = deal(thresholdStructure(4, 1), seededRandom('node-config'), { testOnly: true });
const env = { SINTRA_GROUP: JSON.stringify(out.group), ...out.secrets[1]! };

describe('Node replica configuration', () => {
  it('reads group.json and the secrets from variables', () => {
    const group = loadGroup(env);
    const secrets = loadSecrets(env, group);
    expect(secrets.index).toBe(1);
    expect(() => loadGroup({})).toThrow(ConfigError);
    expect(() => loadGroup({ SINTRA_GROUP: '{' })).toThrow(/not valid JSON/);
    expect(() => loadSecrets({ ...env, SINTRA_LINK_SECRET: undefined }, group)).toThrow(/SINTRA_LINK_SECRET/);
  });

  it('parses peers as a JSON array or a comma-separated list, by index', () => {
    const group = loadGroup(env);
    const urls = ['http://a:1', 'http://b:2/', 'https://c.example/stage', 'http://d:4'];
    expect(parsePeers(JSON.stringify(urls), group, 1)).toEqual(['http://a:1', 'http://b:2', 'https://c.example/stage', 'http://d:4']);
    expect(parsePeers(JSON.stringify([urls[0], null, urls[2], urls[3]]), group, 1)[1]).toBeNull();
    expect(parsePeers(urls.join(','), group, 0)).toHaveLength(4);
    expect(() => parsePeers(JSON.stringify(urls.slice(0, 3)), group, 1)).toThrow(/expected 4/);
    expect(() => parsePeers(JSON.stringify([urls[0], null, urls[2], urls[3]]), group, 0)).toThrow(/SINTRA_PEERS\[1\]/);
    expect(() => parsePeers(undefined, group, 0)).toThrow(ConfigError);
  });

  it('chooses the store: Redis with URL and token, else a data folder, else an error', () => {
    expect(storeSpecFromEnv({ UPSTASH_REDIS_REST_URL: 'https://x.upstash.io', UPSTASH_REDIS_REST_TOKEN: 't', SINTRA_DATA_DIR: '/d' })).toEqual({ kind: 'redis', url: 'https://x.upstash.io', token: 't' });
    expect(storeSpecFromEnv({ SINTRA_DATA_DIR: '/d' })).toEqual({ kind: 'file', dir: '/d' });
    expect(() => storeSpecFromEnv({ UPSTASH_REDIS_REST_URL: 'https://x.upstash.io' })).toThrow(/UPSTASH_REDIS_REST_TOKEN/);
    expect(() => storeSpecFromEnv({})).toThrow(ConfigError);
    // What Redis must show of its persistence: verify (default) or require; anything else is a mistake.
    const redis = { UPSTASH_REDIS_REST_URL: 'https://x.upstash.io', UPSTASH_REDIS_REST_TOKEN: 't' };
    expect(storeSpecFromEnv({ ...redis, SINTRA_REDIS_DURABILITY: 'require' })).toEqual({ kind: 'redis', url: 'https://x.upstash.io', token: 't', durability: 'require' });
    expect(() => storeSpecFromEnv({ ...redis, SINTRA_REDIS_DURABILITY: 'off' })).toThrow(/^SINTRA_REDIS_DURABILITY: expected verify or require/);
  });
});

describe('Node replica routes (in-memory store, peers unreachable)', () => {
  it('POST /v1/tick retransmits once and reports the outbox; a failing store answers 503 storage-unavailable, then recovers', async () => {
    const group = loadGroup(env);
    const store = new MemoryStore();
    const replica = new NodeReplica({
      group,
      secrets: loadSecrets(env, group),
      store,
      peers: group.replicas.map(() => 'http://127.0.0.1:9'),
      timers: false,
      transport: { post: async () => Promise.reject(new Error('unreachable')) },
      host: { bootstrap: true },
      log: () => undefined,
    });
    await replica.start();
    const submit = () => replica.app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"x"}' });
    expect((await submit()).status).toBe(202);
    const tick = await replica.app.request('/v1/tick', { method: 'POST' });
    expect(tick.status).toBe(200);
    const body = (await tick.json()) as { ok: boolean; outbox: number[]; nextRetryAt: number | null };
    expect(body.ok).toBe(true);
    expect(body.outbox[1]).toBe(0);
    expect(body.outbox.filter((x) => x > 0).length).toBe(3);
    expect(typeof body.nextRetryAt).toBe('number');

    store.failNext = true;
    const failed = await replica.app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"y"}' });
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { error: { code: string } }).error.code).toBe('storage-unavailable');
    expect((await replica.app.request('/v1/health')).status).toBe(200);
    expect((await replica.app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"y"}' })).status).toBe(202);

    // A store that found its state written by someone else stops the replica: 503 storage-conflict, for good.
    const conflict = new StoreConflictError('test: another writer');
    store.commit = async () => Promise.reject(conflict);
    store.load = async () => Promise.reject(conflict);
    for (let k = 0; k < 2; k++) {
      const r = await replica.app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"text":"z${k}"}` });
      expect(r.status).toBe(503);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('storage-conflict');
    }
    await replica.close();
  });

  it('storage found not durable while the replica runs (Redis restarted without persistence): 503 storage-not-durable', async () => {
    const group = loadGroup(env);
    const store = new MemoryStore();
    const replica = new NodeReplica({ group, secrets: loadSecrets(env, group), store, peers: group.replicas.map(() => 'http://127.0.0.1:9'), timers: false, transport: { post: async () => Promise.reject(new Error('unreachable')) }, host: { bootstrap: true }, log: () => undefined });
    await replica.start();
    const refused = new StoreNotDurableError('test: appendonly no');
    store.commit = async () => Promise.reject(refused);
    store.load = async () => Promise.reject(refused);
    const r = await replica.app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"x"}' });
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('storage-not-durable');
    expect((await replica.app.request('/v1/health')).status).toBe(503);
    await replica.close();
  });
});

describe('workers/node/main.ts as a process (environment only): every stderr line is a JSON log line', () => {
  it('listening, then SIGTERM: a stopping line with the signal, exit 0; a configuration error: start-failed, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sintra-node-main-'));
    const base: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SINTRA_|UPSTASH_|PORT$|HOST$)/.test(k)));
    const run = (extra: NodeJS.ProcessEnv) => {
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: ROOT, env: { ...base, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
      const o = { child, err: '', closed: new Promise<number | null>((r) => child.once('close', (code) => r(code))) };
      child.stderr.setEncoding('utf8').on('data', (d: string) => (o.err += d));
      return o;
    };
    try {
      const peers = JSON.stringify(['http://127.0.0.1:9', null, 'http://127.0.0.1:9', 'http://127.0.0.1:9']);
      const good = run({ ...env, SINTRA_PEERS: peers, SINTRA_DATA_DIR: join(dir, 'r2'), PORT: '0', HOST: '127.0.0.1' });
      const bad = run({});
      await waitFor(async () => (good.err.includes('"event":"listening"') ? true : null), 'the listening line', 60_000, 50);
      good.child.kill('SIGTERM');
      const [goodCode, badCode] = await Promise.all([good.closed, bad.closed]);
      const parse = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      const logged = parse(good.err);
      expect(logged.map((l) => l['event'])).toEqual(expect.arrayContaining(['listening', 'stopping']));
      expect(logged.find((l) => l['event'] === 'listening')).toMatchObject({ level: 'info', replica: 'r2', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
      expect(logged[logged.length - 1]).toMatchObject({ ts: expect.any(String), level: 'info', replica: 'r2', event: 'stopping', msg: 'replica r2: SIGTERM, stopping', reason: 'SIGTERM' });
      expect(goodCode).toBe(0);
      const failed = parse(bad.err);
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ level: 'error', event: 'start-failed', msg: expect.stringMatching(/^cannot start the replica: .*SINTRA_GROUP/) });
      expect(failed[0]).not.toHaveProperty('replica');
      expect(badCode).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
