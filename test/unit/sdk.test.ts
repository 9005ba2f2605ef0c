/**
 * The client SDK (shared/client/sdk.ts) against fake replicas, with a real group and a real certified
 * stamp receipt: it pins the group, submits to a kernel and replaces replicas that refuse (503) or do not
 * answer (hang) by others, polls in parallel so a hanging replica delays nothing, rejects a forged receipt
 * and records its replica, and refuses a replica of another group before sending anything.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { encodeStampEntry } from '../../shared/app/notary.ts';
import { standardApps } from '../../shared/app/index.ts';
import { SintraClient, SintraClientError, verifyStampReceipt } from '../../shared/client/sdk.ts';
import type { FetchLike } from '../../shared/client/sdk.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { receiptToJson } from '../../shared/log/checkpoint.ts';
import type { ReceiptJson } from '../../shared/log/checkpoint.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine, requestId } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { testGroup } from '../helpers/group.ts';
import { executeAwaiting, MemoryStorage, receiptFrom, recordStep } from '../helpers/history.ts';

const { group, secrets } = testGroup(4);
const DIGEST = toHex(sha256(utf8ToBytes('a document')));

/** A real certified receipt of the stamp entry of DIGEST (four engines on an in-memory network). */
function certifiedReceipt(): ReceiptJson {
  const engines = secrets.map((s) => new ReplicaEngine(contextFromConfig(group, s), { apps: () => standardApps(group) }));
  const queue: { from: number; to: number; msg: Message }[] = [];
  const rng = new Rng(3);
  const stores = engines.map(() => new MemoryStorage());
  const store = stores[1]!;
  const entry = encodeStampEntry({ digest: DIGEST });
  for (const o of engines[0]!.handle({ kind: 'submit', request: entry }).outgoing) queue.push({ from: 0, to: o.to, msg: o.msg });
  while (queue.length > 0) {
    const m = queue.splice(rng.int(queue.length), 1)[0]!;
    const s = engines[m.to]!.handle({ kind: 'peer', from: m.from, msg: m.msg });
    if (s.deferred) {
      queue.push(m);
      continue;
    }
    recordStep(stores[m.to]!, s);
    // Each replica executes what it delivered (the notary), which releases its checkpoint share.
    for (const x of [s, ...executeAwaiting(engines[m.to]!, stores[m.to]!)]) for (const o of x.outgoing) queue.push({ from: m.to, to: o.to, msg: o.msg });
  }
  return receiptToJson(group.groupId, receiptFrom(store, store.indexOfId(requestId(entry))!)!);
}

const json = (status: number, body: unknown) => Promise.resolve({ status, text: () => Promise.resolve(JSON.stringify(body)) });
const never = () => new Promise<never>(() => undefined);
const info = (index: number, groupId = toHex(group.groupId)) => json(200, { replica: { index }, groupId, group: group.file });

describe('SintraClient', () => {
  const receipt = certifiedReceipt();
  const forged = { ...receipt, checkpoint: { ...receipt.checkpoint, signature: receipt.checkpoint.signature.replace(/^../, (x) => (x === 'aa' ? 'ab' : 'aa')) } };

  it('routes around a hanging, a refusing and a lying replica', async () => {
    expect(verifyStampReceipt(group, receipt, DIGEST).ok).toBe(true);
    expect(verifyStampReceipt(group, forged, DIGEST).ok).toBe(false);
    const posts: string[] = [];
    let polls = 0;
    const fetch: FetchLike = (url, init) => {
      const [, host, path] = /^http:\/\/(\w)(.*)$/.exec(url)!;
      const index = 'abcd'.indexOf(host!);
      if (path === '/v1/info') return info(index);
      if (init?.method === 'POST') {
        posts.push(host!);
        if (host === 'a') return never();
        if (host === 'b') return json(503, { error: { code: 'overloaded', message: 'busy' } });
        return json(202, { id: 'x', status: 'pending' });
      }
      if (host === 'a') return never();
      if (host === 'b') return json(404, { error: { code: 'unknown-stamp', message: '' } });
      if (host === 'd') return json(200, { status: 'certified', receipt: forged });
      return ++polls < 3 ? json(404, { error: { code: 'unknown-stamp', message: '' } }) : json(200, { status: 'certified', receipt });
    };
    const log: string[] = [];
    const sdk = new SintraClient({ group, urls: ['http://a', 'http://b', 'http://c', 'http://d'], fetch, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), patienceMs: 50, pollMs: 5, timeoutMs: 5_000, log: (l) => void log.push(l) });
    const r = await sdk.stamp(DIGEST);
    expect(posts.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(r.acceptedBy).toEqual(['http://c', 'http://d']);
    expect(r.from).toBe('http://c');
    expect(r.verdict).toMatchObject({ ok: true, digest: DIGEST, index: 0 });
    expect(sdk.liarList()).toEqual([{ url: 'http://d', reason: expect.stringMatching(/signature/) }]);
    expect(log.join('\n')).toMatch(/http:\/\/a has not answered/);
    expect(log.join('\n')).toMatch(/http:\/\/b: HTTP 503 overloaded/);
  }, 30_000);

  it('refuses a replica of another group before sending anything', async () => {
    let posted = false;
    const fetch: FetchLike = (url, init) => {
      if (init?.method === 'POST') posted = true;
      return url.endsWith('/v1/info') ? info(0, url.startsWith('http://b') ? '00'.repeat(32) : toHex(group.groupId)) : json(404, {});
    };
    const sdk = new SintraClient({ group, urls: ['http://a', 'http://b'], fetch, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
    await expect(sdk.stamp(DIGEST)).rejects.toThrow(SintraClientError);
    await expect(sdk.stamp(DIGEST)).rejects.toThrow(/not the pinned group/);
    expect(posted).toBe(false);
  });

  it('gives up after the timeout when every replica lies', async () => {
    const fetch: FetchLike = (url, init) => (url.endsWith('/v1/info') ? info('ab'.indexOf(url[7]!)) : init?.method === 'POST' ? json(202, {}) : json(200, { status: 'certified', receipt: forged }));
    const sdk = new SintraClient({ group, urls: ['http://a', 'http://b'], fetch, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), pollMs: 5, timeoutMs: 1000 });
    await expect(sdk.stamp(DIGEST)).rejects.toThrow(/every replica served a receipt that does not verify/);
  });
});
