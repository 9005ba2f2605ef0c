/**
 * Every message an engine produces fits a link frame by construction (issue 13, bug 6): forwarded stale
 * requests are capped by bytes, not only by count, and an epoch's decryption shares travel in parts (one
 * message for all of them broke the wire codec's 4,096-item list limit once an epoch ordered more
 * ciphertexts, and the event that made it threw on every retry). Messages here go through the wire codec
 * both ways, as between real replicas. Insecure test crypto: same control flow, fast.
 */
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../shared/codec/message-codec.ts';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { insecureTestDecryptor, insecureTestEncrypt } from '../../shared/protocols/crypto-suite.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { DEC_SHARES_PER_MESSAGE } from '../../shared/protocols/scab.ts';
import { DEFAULT_MAX_VALUE_BYTES } from '../../shared/replica/from-config.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import type { EngineEvent, EngineOptions } from '../../shared/replica/engine.ts';
import { MAX_MESSAGE_BYTES } from '../../shared/replica/transport.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { threshold } from '../helpers/net.ts';

interface Wire {
  readonly from: number;
  readonly to: number;
  readonly bytes: Uint8Array;
}

function cluster(options: EngineOptions) {
  const ctxs = threshold(4, 1).map((c) => ({ ...c, maxValueBytes: DEFAULT_MAX_VALUE_BYTES }));
  const groupId = new Uint8Array(32).fill(9);
  const engines = ctxs.map((c) => new ReplicaEngine(c, options, insecureTestDecryptor(groupId, c.me, c.crypto.kernel.scheme)));
  const queue: Wire[] = [];
  const largest = new Map<string, number>();
  let lastPart = 0;
  const apply = (at: number, ev: EngineEvent) => {
    const s = engines[at]!.handle(ev);
    for (const o of s.outgoing) {
      const bytes = encodeMessage(o.msg);
      if (o.msg.body.t === 'dec-shares') lastPart = Math.max(lastPart, o.msg.body.first);
      largest.set(o.msg.body.t, Math.max(largest.get(o.msg.body.t) ?? 0, bytes.length));
      queue.push({ from: at, to: o.to, bytes });
    }
    return s;
  };
  const run = (rng: Rng, hold: (m: Wire & { msg: Message }) => boolean = () => false) => {
    for (let i = 0; ; i++) {
      expect(i).toBeLessThan(2_000_000);
      const free = queue.filter((w) => !hold({ ...w, msg: decodeMessage(w.bytes) }));
      if (free.length === 0) return;
      const w = free[rng.int(free.length)]!;
      queue.splice(queue.indexOf(w), 1);
      if (apply(w.to, { kind: 'peer', from: w.from, msg: decodeMessage(w.bytes) }).deferred) queue.push(w);
    }
  };
  return { engines, apply, run, largest, groupId, lastPart: () => lastPart };
}

describe('every message fits a frame', () => {
  it('forwarded stale requests are split by bytes: 900 requests of 8 KiB, each message under the frame limit', () => {
    const c = cluster({ ab: { maxBatch: 1024, forwardAfter: 1 } });
    const rng = new Rng(1);
    // Replica 0 alone gets them (7.2 MB, under its 8 MiB queue) and proposes a few hundred per epoch: the
    // rest go stale and are forwarded, over 4 MiB of them at once.
    for (let k = 0; k < 900; k++) {
      const r = new Uint8Array(8192);
      r.set(utf8ToBytes(`request ${k}`));
      c.apply(0, { kind: 'submit', request: r });
    }
    c.run(rng);
    expect(c.largest.get('ab-requests')).toBeGreaterThan(0);
    for (const [t, size] of c.largest) expect(size, t).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(c.engines.map((e) => e.log.size)).toEqual([900, 900, 900, 900]);
  });

  it(`an epoch with more ciphertexts than one message can list sends its shares in parts of ${DEC_SHARES_PER_MESSAGE}`, () => {
    const c = cluster({ ab: { maxBatch: 2048, maxPending: 10_000 } });
    const rng = new Rng(2);
    // 4 x 1,300 distinct ciphertexts, proposed by all four in the same epoch: 5,200 in one epoch.
    for (let i = 0; i < 4; i++) {
      for (let k = 0; k < 1300; k++) c.apply(i, { kind: 'submit-encrypted', ciphertext: insecureTestEncrypt(c.groupId, utf8ToBytes(`client ${i}`), utf8ToBytes(`sealed ${i}/${k}`)) });
    }
    c.run(rng);
    expect(c.engines.map((e) => e.log.size)).toEqual([5200, 5200, 5200, 5200]);
    // One epoch held over 4,096 of them: its shares went in 6 parts.
    expect(c.lastPart()).toBe(5 * DEC_SHARES_PER_MESSAGE);
    for (const [t, size] of c.largest) expect(size, t).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  });
});
