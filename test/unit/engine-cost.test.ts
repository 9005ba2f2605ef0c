/**
 * What one Byzantine peer can make an honest replica do (issue 13, bug 4): a message for an epoch does not
 * start it (only pending requests, or a delivered non-empty proposal, which is evidence an honest replica
 * wants it); junk for collected epochs changes nothing and is acknowledged without being journaled; and a
 * non-empty proposal that reached one replica only still starts the epoch everywhere (cbc-have). Insecure
 * test crypto, so the Byzantine replica can make what a quorum would sign.
 */
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { encodeBatch } from '../../shared/protocols/batch.ts';
import { envelope, ENVELOPE_PLAIN } from '../../shared/protocols/scab.ts';
import { insecureTestDecryptor } from '../../shared/protocols/crypto-suite.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import type { EngineEvent, EngineStep } from '../../shared/replica/engine.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { threshold } from '../helpers/net.ts';

interface InFlight {
  readonly from: number;
  readonly to: number;
  readonly msg: Message;
}

function cluster(honest: readonly number[]) {
  const ctxs = threshold(4, 1);
  const groupId = new Uint8Array(32).fill(9);
  const engines = ctxs.map((c) => new ReplicaEngine(c, { ab: { keepEpochs: 1, serveEpochs: 2 } }, insecureTestDecryptor(groupId, c.me, c.crypto.kernel.scheme)));
  const queue: InFlight[] = [];
  const apply = (at: number, ev: EngineEvent): EngineStep => {
    const s = engines[at]!.handle(ev);
    for (const o of s.outgoing) queue.push({ from: at, to: o.to, msg: o.msg });
    return s;
  };
  const run = (rng: Rng) => {
    for (let i = 0; queue.length > 0; i++) {
      expect(i).toBeLessThan(200_000);
      const m = queue.splice(rng.int(queue.length), 1)[0]!;
      if (!honest.includes(m.to)) continue;
      if (apply(m.to, { kind: 'peer', from: m.from, msg: m.msg }).deferred) queue.push(m);
    }
  };
  return { ctxs, engines, apply, run, queue };
}

describe('ReplicaEngine: what one peer can make it do', () => {
  it('a peer alone does not start an epoch: an empty proposal and agreement messages get echoes, no proposal', () => {
    const c = cluster([0, 1, 2]);
    const e = c.engines[0]!;
    const empty = envelopeBatch([]);
    const s1 = c.apply(0, { kind: 'peer', from: 3, msg: { tag: 'ab/0/cbc/3', body: { t: 'cbc-send', value: empty } } });
    expect(s1.outgoing.map((o) => [o.to, o.msg.body.t])).toEqual([[3, 'cbc-echo']]);
    for (const j of [0, 1, 2, 3]) {
      const s = c.apply(0, { kind: 'peer', from: 3, msg: { tag: `ab/0/aba/${j}`, body: { t: 'aba-bval', round: 0, value: 1 } } });
      expect(s.outgoing).toEqual([]);
    }
    expect(e.ab.currentEpoch).toBe(0);
    expect(e.log.size).toBe(0);
  });

  it('junk for a collected epoch changes nothing: acknowledged without being journaled', () => {
    const c = cluster([0, 1, 2, 3]);
    const rng = new Rng(3);
    for (let k = 0; k < 4; k++) {
      c.apply(k % 4, { kind: 'submit', request: utf8ToBytes(`request ${k}`) });
      c.run(rng);
    }
    const e = c.engines[0]!;
    expect(e.ab.currentEpoch).toBeGreaterThanOrEqual(4);
    const before = e.snapshot();
    for (const msg of [
      { tag: 'ab/0/aba/1', body: { t: 'aba-bval', round: 0, value: 1 } },
      { tag: 'ab/0/cbc/2', body: { t: 'cbc-send', value: envelopeBatch([utf8ToBytes('late')]) } },
      { tag: 'ab/1/cbc/2', body: { t: 'cbc-echo', share: new Uint8Array(32) } },
      { tag: 'dec/0', body: { t: 'dec-shares', first: 0, shares: [new Uint8Array(32)] } },
      { tag: 'ckpt/0', body: { t: 'ckpt-share', share: new Uint8Array(32) } },
    ] satisfies Message[]) {
      const s = c.apply(0, { kind: 'peer', from: 3, msg });
      expect(s.unchanged, msg.tag).toBe(true);
      expect(s.outgoing.length + s.faults.length + s.appended.length).toBe(0);
    }
    expect(e.snapshot()).toEqual(before);
  });

  it("a peer's forwarded requests take at most its share of the queue, and are not forwarded again", () => {
    const c = cluster([0]);
    const e = c.engines[0]!;
    const maxPendingBytes = 8 * 1024 * 1024;
    // Five messages of 128 requests x 4 KiB (512 KiB each): 2.5 MiB offered, a quarter of the queue is 2 MiB.
    for (let m = 0; m < 5; m++) {
      const requests = Array.from({ length: 128 }, (_, k) => {
        const r = new Uint8Array(4096);
        r.set(utf8ToBytes(`forwarded ${m}/${k}`), 1);
        return r;
      });
      const s = c.apply(0, { kind: 'peer', from: 3, msg: { tag: 'ab', body: { t: 'ab-requests', requests } } });
      expect(s.faults).toEqual([]);
    }
    expect(e.ab.pendingBytes).toBeLessThanOrEqual(maxPendingBytes / 4);
    expect(e.ab.pendingBytes).toBeGreaterThan(maxPendingBytes / 4 - 8192);
    // Clients still get in.
    expect(e.refusal(utf8ToBytes('a client request'))).toBeNull();
    // More than a proposal's bytes in one message is more than an honest replica forwards: a fault.
    const big = Array.from({ length: 1000 }, (_, k) => new Uint8Array(4096).fill(k % 256));
    const s = c.apply(0, { kind: 'peer', from: 2, msg: { tag: 'ab', body: { t: 'ab-requests', requests: big } } });
    expect(s.faults.map((f) => [f.peer, f.kind])).toEqual([[2, 'malformed']]);
  });

  it("a non-empty proposal that reached one replica only starts the epoch at every honest replica", () => {
    const c = cluster([0, 1, 2]);
    const rng = new Rng(5);
    // Replica 3 (Byzantine) proposes one request, gets its proof from the quorum key shares (insecure test
    // crypto lets it sign for everyone), and sends the FINAL to replica 0 only.
    const value = envelopeBatch([utf8ToBytes('from the Byzantine replica')]);
    const q = c.ctxs[3]!.crypto.quorum;
    const shares = new Map(c.ctxs.map((x) => [x.me, x.crypto.quorum.sign('cbc', 'ab/0/cbc/3', sha256(value))] as const));
    const signature = q.combine('cbc', 'ab/0/cbc/3', sha256(value), shares).signature;
    const s = c.apply(0, { kind: 'peer', from: 3, msg: { tag: 'ab/0/cbc/3', body: { t: 'cbc-final', value, signature } } });
    // Replica 0 starts epoch 0 (an empty proposal of its own) and tells the others it has a proposal.
    expect(s.outgoing.filter((o) => o.msg.body.t === 'cbc-have').map((o) => o.to)).toEqual([1, 2, 3]);
    c.run(rng);
    expect(c.engines.slice(0, 3).map((e) => e.log.size)).toEqual([1, 1, 1]);
  });
});

/** A batch of plain requests as the engine's atomic broadcast carries them (mixed-mode envelopes). */
function envelopeBatch(requests: readonly Uint8Array[]): Uint8Array {
  return encodeBatch(requests.map((r) => envelope(ENVELOPE_PLAIN, r)));
}
