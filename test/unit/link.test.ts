/** The link layer (shared/link): keys from the dealer's output, frames, every reject code, windows, state. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { x25519 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeBatch, decodeBatch } from '../../shared/codec/message-codec.ts';
import { deal } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { thresholdStructure } from '../../shared/quorum/index.ts';
import {
  FRAME_HEADER_BYTES,
  FRAME_OVERHEAD_BYTES,
  LINK_REJECT_CODES,
  LINK_WINDOW,
  LinkError,
  LinkReceiver,
  LinkSender,
  MAX_FRAME_BYTES,
  MAX_PAYLOAD_BYTES,
  ReceiveWindow,
  checkFrame,
  contiguousAck,
  decodeFrame,
  deriveLinkKeys,
  encodeFrame,
  linkChannel,
  linkPeers,
} from '../../shared/link/index.ts';
import type { LinkChannel, LinkErrorCode, LinkPeer, LinkRejectCode, LinkVerdict } from '../../shared/link/index.ts';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));

const out = deal(thresholdStructure(4, 1), seededRandom('link/t41'), { testOnly: true });
const group: Group = parseGroup(clone(out.group));
const secrets: ReplicaSecrets[] = out.secrets.map((s) => parseReplicaSecrets(clone(s), group));
const peers: (readonly (LinkPeer | undefined)[])[] = secrets.map((s) => linkPeers(group, s));

/** Our channels i -> j (outgoing at i) and the receiver state for it at j (incoming at j). */
const out_ = (i: number, j: number): LinkChannel => peers[i]![j]!.outgoing;
const in_ = (i: number, j: number): LinkChannel => peers[j]![i]!.incoming;
const sender = (i: number, j: number) => LinkSender.create(out_(i, j));
const receiver = (i: number, j: number) => LinkReceiver.create(in_(i, j));
const receiversAt = (j: number) => peers[j]!.map((p) => (p ? LinkReceiver.create(p.incoming) : undefined));

function linkError(f: () => unknown): LinkErrorCode | 'none' {
  try {
    f();
  } catch (e) {
    if (e instanceof LinkError) return e.code;
    throw e;
  }
  return 'none';
}

/** b[at] ^= mask. */
function flip(b: Uint8Array, at: number, mask: number): void {
  b[at] = b[at]! ^ mask;
}

const codeOf = (v: LinkVerdict): LinkRejectCode | 'ok' => (v.ok ? 'ok' : v.code);

/** seq-numbered frames from i to j: allocate `count` seqs, seal each with a distinct payload. */
function frames(i: number, j: number, count: number, ack = 0): Uint8Array[] {
  let s = sender(i, j);
  const fs: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    const a = s.allocate();
    s = a.sender;
    fs.push(s.seal(a.seq, utf8ToBytes(`payload ${a.seq}`), ack));
  }
  return fs;
}

/** A frame as produced by encodeFrame on an arbitrary channel, with header bytes patched and re-MAC'd. */
function patched(channel: LinkChannel, key: Uint8Array, seq: number, patch: (b: Uint8Array) => void): Uint8Array {
  const b = encodeFrame(channel, { seq, ack: 0, payload: utf8ToBytes('x') });
  patch(b);
  const end = b.length - 32;
  b.set(hmac(sha256, key, b.subarray(0, end)), end);
  return b;
}

const keys01 = deriveLinkKeys({ groupId: group.groupId, me: 0, mySecret: secrets[0]!.linkSecret, peer: 1, peerPublic: group.replicas[1]!.linkKey });

describe('pairwise link keys', () => {
  const k = (i: number, j: number) =>
    deriveLinkKeys({ groupId: group.groupId, me: i, mySecret: secrets[i]!.linkSecret, peer: j, peerPublic: group.replicas[j]!.linkKey });

  it('both ends derive the same key per direction', () => {
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        if (i === j) continue;
        expect(toHex(k(i, j).outgoing)).toBe(toHex(k(j, i).incoming));
        expect(toHex(k(i, j).incoming)).toBe(toHex(k(j, i).outgoing));
      }
    }
  });

  it('every direction of every pair has its own key', () => {
    const all = new Set<string>();
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (i !== j) all.add(toHex(k(i, j).outgoing));
    expect(all.size).toBe(12);
    expect(toHex(k(0, 1).outgoing)).not.toBe(toHex(k(1, 0).outgoing)); // i->j vs j->i
    expect(toHex(k(0, 1).outgoing)).not.toBe(toHex(k(0, 2).outgoing)); // i->j vs i->k
  });

  it('binds the group id (same X25519 keys, other group: other keys)', () => {
    const other = deriveLinkKeys({ ...keyInput(0, 1), groupId: new Uint8Array(32).fill(7) });
    expect(toHex(other.outgoing)).not.toBe(toHex(k(0, 1).outgoing));
  });

  it('is a fixed function of its inputs (HKDF-SHA256 over X25519, known-answer against a hand-computed value)', async () => {
    const { hkdf } = await import('@noble/hashes/hkdf.js');
    const { frame, u16be } = await import('../../shared/crypto/bytes.ts');
    const shared = x25519.getSharedSecret(secrets[0]!.linkSecret, group.replicas[1]!.linkKey);
    const info = frame('sintra-edge/link-key/v1', group.groupId, u16be(0), u16be(1), group.replicas[0]!.linkKey, group.replicas[1]!.linkKey);
    expect(toHex(keys01.outgoing)).toBe(toHex(hkdf(sha256, shared, group.groupId, info, 32)));
  });

  it('channel MACs agree between the two ends, and differ per direction', () => {
    const m = utf8ToBytes('abc');
    expect(toHex(out_(0, 1).mac(m))).toBe(toHex(in_(0, 1).mac(m)));
    expect(toHex(out_(0, 1).mac(m))).not.toBe(toHex(out_(1, 0).mac(m)));
    expect(toHex(out_(0, 1).mac(m))).toBe(toHex(hmac(sha256, keys01.outgoing, m)));
    expect(toHex(out_(0, 1).mac(m))).toBe(toHex(out_(0, 1).mac(m))); // the keyed state is cloned, not consumed
  });

  it('refuses bad input with typed errors', () => {
    expect(linkError(() => deriveLinkKeys({ ...keyInput(0, 1), peer: 0 }))).toBe('bad-index');
    expect(linkError(() => deriveLinkKeys({ ...keyInput(0, 1), peer: 70000 }))).toBe('bad-index');
    expect(linkError(() => deriveLinkKeys({ ...keyInput(0, 1), mySecret: new Uint8Array(31) }))).toBe('bad-key');
    expect(linkError(() => deriveLinkKeys({ ...keyInput(0, 1), peerPublic: new Uint8Array(32) }))).toBe('bad-key'); // small order
    expect(linkError(() => deriveLinkKeys({ ...keyInput(0, 1), groupId: new Uint8Array(31) }))).toBe('bad-argument');
    expect(linkError(() => linkChannel(group.groupId, 1, 1, new Uint8Array(32)))).toBe('bad-index');
    expect(linkError(() => linkChannel(group.groupId, 0, 1, new Uint8Array(16)))).toBe('bad-key');
    expect(linkError(() => linkPeers(group, { ...secrets[0]!, linkSecret: secrets[1]!.linkSecret }))).toBe('bad-key');
  });

  it('linkPeers: one entry per replica, none for ourselves, channels oriented', () => {
    const p = peers[2]!;
    expect(p.map((x) => x?.peer)).toEqual([0, 1, undefined, 3]);
    expect([p[3]!.outgoing.sender, p[3]!.outgoing.receiver, p[3]!.incoming.sender, p[3]!.incoming.receiver]).toEqual([2, 3, 3, 2]);
    expect(JSON.stringify(p[3]!.outgoing)).not.toContain(toHex(k(2, 3).outgoing)); // the key is not a field
  });

  function keyInput(i: number, j: number) {
    return { groupId: group.groupId, me: i, mySecret: secrets[i]!.linkSecret, peer: j, peerPublic: group.replicas[j]!.linkKey };
  }
});

describe('frames', () => {
  it('round trip: a codec batch from 0 to 1', () => {
    const payload = encodeBatch([
      { tag: 'ab/1/rbc/0', body: { t: 'rbc-send', value: utf8ToBytes('hello') } },
      { tag: 'ab/1/aba/2', body: { t: 'aba-bval', round: 3, value: 1 } },
    ]);
    const { seq, sender: s } = sender(0, 1).allocate();
    const bytes = s.seal(seq, payload, 17);
    expect(bytes.length).toBe(FRAME_OVERHEAD_BYTES + payload.length);
    const v = receiver(0, 1).check(bytes);
    expect(v).toMatchObject({ ok: true, sender: 0, seq: 1, ack: 17 });
    if (!v.ok) throw new Error('rejected');
    expect(toHex(v.payload)).toBe(toHex(payload));
    expect(decodeBatch(v.payload)).toHaveLength(2);
  });

  it('fixed layout', () => {
    const bytes = encodeFrame(out_(2, 3), { seq: 0x0102030405, ack: 2 ** 53 - 1, payload: new Uint8Array([9, 8]) });
    expect(bytes[0]).toBe(1);
    expect(toHex(bytes.subarray(1, 33))).toBe(toHex(group.groupId));
    expect(toHex(bytes.subarray(33, 57))).toBe('0002' + '0003' + '0000000102030405' + '001fffffffffffff' + '00000002');
    expect(toHex(bytes.subarray(57, 59))).toBe('0908');
    expect(bytes.length).toBe(59 + 32);
    const d = decodeFrame(bytes);
    expect(d.ok && [d.frame.sender, d.frame.receiver, d.frame.seq, d.frame.ack]).toEqual([2, 3, 0x0102030405, 2 ** 53 - 1]);
  });

  it('seal is deterministic and refuses bad arguments', () => {
    const { seq, sender: s } = sender(0, 1).allocate();
    expect(toHex(s.seal(seq, utf8ToBytes('a'), 0))).toBe(toHex(s.seal(seq, utf8ToBytes('a'), 0)));
    expect(linkError(() => s.seal(2, utf8ToBytes('a'), 0))).toBe('bad-seq'); // not allocated
    expect(linkError(() => s.seal(0, utf8ToBytes('a'), 0))).toBe('bad-seq');
    expect(linkError(() => s.seal(1, utf8ToBytes('a'), -1))).toBe('bad-seq');
    expect(linkError(() => s.seal(1, utf8ToBytes('a'), 2 ** 53))).toBe('bad-seq');
    expect(linkError(() => s.seal(1, new Uint8Array(MAX_PAYLOAD_BYTES + 1), 0))).toBe('too-large');
    expect(s.seal(1, new Uint8Array(MAX_PAYLOAD_BYTES), 0).length).toBe(MAX_FRAME_BYTES);
    expect(receiver(0, 1).check(s.seal(1, new Uint8Array(MAX_PAYLOAD_BYTES), 0)).ok).toBe(true);
  });
});

describe('every reject code', () => {
  const good = () => frames(0, 1, 1)[0]!;
  const r = receiver(0, 1);

  it('the codes are the documented, stable list', () => {
    expect(LINK_REJECT_CODES).toEqual(['too-large', 'version', 'malformed', 'wrong-group', 'wrong-receiver', 'unknown-sender', 'bad-mac', 'replay', 'ahead']);
  });

  it('too-large: checked before anything is read', () => {
    const big = new Uint8Array(MAX_FRAME_BYTES + 1); // version byte 0, no valid layout: size wins
    expect(codeOf(r.check(big))).toBe('too-large');
  });

  it('version', () => {
    const b = good();
    b[0] = 2;
    expect(codeOf(r.check(b))).toBe('version');
    expect(codeOf(r.check(new Uint8Array([0])))).toBe('version');
  });

  it('malformed: empty, truncated, trailing, length field, u64 above 2^53-1, ack-only with payload', () => {
    const b = good();
    expect(codeOf(r.check(new Uint8Array(0)))).toBe('malformed');
    expect(codeOf(r.check(new Uint8Array([1])))).toBe('malformed');
    for (const cut of [1, 32, 33, b.length - FRAME_HEADER_BYTES]) expect(codeOf(r.check(b.subarray(0, b.length - cut)))).toBe('malformed');
    const longer = new Uint8Array(b.length + 1);
    longer.set(b);
    expect(codeOf(r.check(longer))).toBe('malformed');
    const len = b.slice();
    flip(len, 56, 1);
    expect(codeOf(r.check(len))).toBe('malformed');
    const seqHigh = b.slice();
    seqHigh[37 + 1] = 0x20; // seq = 2^53 + ...
    expect(codeOf(r.check(seqHigh))).toBe('malformed');
    const ackHigh = b.slice();
    ackHigh[45] = 0x80;
    expect(codeOf(r.check(ackHigh))).toBe('malformed');
    const ackOnlyWithPayload = patched(out_(0, 1), keys01.outgoing, 1, (x) => x.fill(0, 37, 45));
    expect(codeOf(r.check(ackOnlyWithPayload))).toBe('malformed');
  });

  it('wrong-group, even with a valid MAC under a key of the other group', () => {
    const otherGroup = new Uint8Array(32).fill(1);
    const keys = deriveLinkKeys({ groupId: otherGroup, me: 0, mySecret: secrets[0]!.linkSecret, peer: 1, peerPublic: group.replicas[1]!.linkKey });
    const b = encodeFrame(linkChannel(otherGroup, 0, 1, keys.outgoing), { seq: 1, ack: 0, payload: new Uint8Array(3) });
    expect(codeOf(r.check(b))).toBe('wrong-group');
    const flipped = good();
    flip(flipped, 5, 0x40);
    expect(codeOf(r.check(flipped))).toBe('wrong-group');
  });

  it('wrong-receiver: a genuine frame 0 -> 2 delivered to replica 1', () => {
    expect(codeOf(r.check(frames(0, 2, 1)[0]!))).toBe('wrong-receiver');
    expect(codeOf(checkFrame(frames(0, 2, 1)[0]!, receiversAt(1)))).toBe('wrong-receiver');
  });

  it('unknown-sender: self, out of range, or not this receiver’s peer', () => {
    expect(codeOf(r.check(frames(2, 1, 1)[0]!))).toBe('unknown-sender'); // genuine 2 -> 1 at the receiver for peer 0
    const self = patched(out_(0, 1), keys01.outgoing, 1, (x) => (x[34] = 1)); // sender 1 -> receiver 1
    expect(codeOf(r.check(self))).toBe('unknown-sender');
    expect(codeOf(checkFrame(self, receiversAt(1)))).toBe('unknown-sender');
    const far = patched(out_(0, 1), keys01.outgoing, 1, (x) => (x[34] = 9));
    expect(codeOf(checkFrame(far, receiversAt(1)))).toBe('unknown-sender');
    expect(codeOf(checkFrame(far, []))).toBe('unknown-sender');
  });

  it('bad-mac: wrong key, and each authenticated field tampered where the header checks still pass', () => {
    const wrongKey = encodeFrame(linkChannel(group.groupId, 0, 1, new Uint8Array(32).fill(3)), { seq: 1, ack: 0, payload: new Uint8Array(1) });
    expect(codeOf(r.check(wrongKey))).toBe('bad-mac');
    const reflected = encodeFrame(linkChannel(group.groupId, 0, 1, keys01.incoming), { seq: 1, ack: 0, payload: new Uint8Array(1) });
    expect(codeOf(r.check(reflected))).toBe('bad-mac'); // the 1 -> 0 key does not authenticate 0 -> 1
    const b = good();
    for (const at of [37 + 7 /* seq */, 45 + 7 /* ack */, FRAME_HEADER_BYTES /* payload */, b.length - 1 /* tag */, b.length - 32]) {
      const t = b.slice();
      flip(t, at, 0x02); // not bit 0: seq 1 -> 0 would be an ack-only frame with a payload (malformed)
      expect(codeOf(r.check(t)), `byte ${at}`).toBe('bad-mac');
    }
    // sender 0 relabelled as sender 2: routed to the 2 -> 1 receiver, whose key does not match
    const relabelled = b.slice();
    relabelled[34] = 2;
    expect(codeOf(checkFrame(relabelled, receiversAt(1)))).toBe('bad-mac');
  });

  it('no single-bit flip anywhere in a frame is accepted', () => {
    const b = good();
    const seen = new Set<string>();
    for (let at = 0; at < b.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const t = b.slice();
        flip(t, at, 1 << bit);
        const v = checkFrame(t, receiversAt(1));
        expect(v.ok, `byte ${at} bit ${bit}`).toBe(false);
        seen.add(codeOf(v));
      }
    }
    expect([...seen].sort()).toEqual(['bad-mac', 'malformed', 'unknown-sender', 'version', 'wrong-group', 'wrong-receiver']);
  });

  it('replay: exact duplicate, and below the window once acked', () => {
    const [f1, f2] = frames(0, 1, 2);
    let rx = r;
    expect(codeOf(rx.check(f1!))).toBe('ok');
    rx = rx.commit(1);
    expect(codeOf(rx.check(f1!))).toBe('replay');
    expect(codeOf(rx.check(f2!))).toBe('ok');
    rx = rx.commit(2);
    expect(rx.contiguousAck).toBe(2);
    expect(codeOf(rx.check(f1!))).toBe('replay'); // at or below the contiguous ack
    expect(codeOf(rx.check(f2!))).toBe('replay');
  });

  it('ahead: beyond contiguous ack + window, accepted once the gap fills', () => {
    // a sender that ignores acks (an honest LinkSender cannot allocate past the window)
    const fs = Array.from({ length: LINK_WINDOW + 2 }, (_, k) => encodeFrame(out_(0, 1), { seq: k + 1, ack: 0, payload: utf8ToBytes(`p${k}`) }));
    let rx = r;
    expect(codeOf(rx.check(fs[LINK_WINDOW]!))).toBe('ahead'); // seq W+1 with ack 0
    expect(codeOf(rx.check(fs[LINK_WINDOW - 1]!))).toBe('ok'); // seq W
    rx = rx.commit(LINK_WINDOW);
    expect(codeOf(rx.check(fs[LINK_WINDOW]!))).toBe('ahead');
    rx = rx.commit(1);
    expect(codeOf(rx.check(fs[LINK_WINDOW]!))).toBe('ok');
    expect(codeOf(rx.check(fs[LINK_WINDOW + 1]!))).toBe('ahead');
  });
});

describe('LinkReceiver', () => {
  it('accepts out of order, each seq once; ack is contiguous', () => {
    const fs = frames(0, 1, 6);
    let rx = receiver(0, 1);
    const accepted: number[] = [];
    for (const k of [3, 1, 3, 6, 1, 2, 6, 5, 4, 2, 5]) {
      const v = rx.check(fs[k - 1]!);
      if (v.ok) {
        accepted.push(v.seq);
        rx = rx.commit(v.seq);
      } else expect(v.code).toBe('replay');
      if (k === 6 && accepted.length === 3) {
        expect(rx.contiguousAck).toBe(1);
        expect(rx.pending).toEqual([3, 6]);
      }
    }
    expect(accepted).toEqual([3, 1, 6, 2, 5, 4]);
    expect(rx.contiguousAck).toBe(6);
    expect(rx.pending).toEqual([]);
  });

  it('check is pure, commit returns a new receiver and refuses a second commit', () => {
    const [f] = frames(0, 1, 1);
    const rx = receiver(0, 1);
    expect(codeOf(rx.check(f!))).toBe('ok');
    expect(codeOf(rx.check(f!))).toBe('ok'); // no state change
    const next = rx.commit(1);
    expect(rx.contiguousAck).toBe(0);
    expect(next.contiguousAck).toBe(1);
    expect(linkError(() => next.commit(1))).toBe('bad-seq');
    expect(linkError(() => rx.commit(LINK_WINDOW + 1))).toBe('bad-seq');
    expect(linkError(() => rx.commit(-1))).toBe('bad-seq');
    expect(linkError(() => rx.commit(1.5))).toBe('bad-seq');
  });

  it('ack-only frames (seq 0) are accepted every time and commit(0) is a no-op', () => {
    const b = sender(0, 1).sealAck(5);
    expect(b.length).toBe(FRAME_OVERHEAD_BYTES);
    const rx = receiver(0, 1);
    for (let k = 0; k < 3; k++) expect(rx.check(b)).toMatchObject({ ok: true, seq: 0, ack: 5 });
    expect(rx.commit(0)).toBe(rx);
  });

  it('checkFrame routes to the receiver of the claimed sender', () => {
    const rs = receiversAt(1);
    expect(checkFrame(frames(0, 1, 1)[0]!, rs)).toMatchObject({ ok: true, sender: 0 });
    expect(checkFrame(frames(3, 1, 1)[0]!, rs)).toMatchObject({ ok: true, sender: 3 });
    expect(codeOf(checkFrame(new Uint8Array(0), rs))).toBe('malformed');
  });

  it('state round-trips through JSON, and restoring refuses anything not strictly valid', () => {
    const fs = frames(0, 1, 10);
    let rx = receiver(0, 1);
    for (const k of [1, 2, 5, 9]) rx = rx.commit(k);
    const json = clone(rx.toJSON());
    expect(json).toEqual({ ack: 2, received: [5, 9] });
    const back = LinkReceiver.fromJSON(in_(0, 1), json);
    expect(back.toJSON()).toEqual(json);
    expect(fs.map((f) => codeOf(back.check(f)))).toEqual(fs.map((f) => codeOf(rx.check(f))));
    for (const bad of [
      null,
      [],
      { ack: 2 },
      { ack: 2, received: [5], extra: 1 },
      { ack: -1, received: [] },
      { ack: 1.5, received: [] },
      { ack: 2, received: [3] }, // ack+1 would have been absorbed
      { ack: 2, received: [9, 5] },
      { ack: 2, received: [5, 5] },
      { ack: 2, received: [2 + LINK_WINDOW + 1] },
      { ack: 2, received: ['5'] },
      { ack: 0, received: Array.from({ length: LINK_WINDOW }, (_, i) => i + 2) },
    ]) {
      expect(linkError(() => LinkReceiver.fromJSON(in_(0, 1), bad)), JSON.stringify(bad)?.slice(0, 60)).toBe('bad-state');
    }
  });
});

describe('LinkSender', () => {
  it('allocates consecutive seqs and stops at the window', () => {
    let s = sender(0, 1);
    for (let k = 1; k <= LINK_WINDOW; k++) {
      const a = s.allocate();
      expect(a.seq).toBe(k);
      expect(s.next).toBe(k); // immutable
      s = a.sender;
    }
    expect(s.unacked).toBe(LINK_WINDOW);
    expect(s.windowOpen).toBe(false);
    expect(linkError(() => s.allocate())).toBe('bad-seq');
    const acked = s.acknowledge(3);
    expect(acked.ok && acked.advanced).toBe(true);
    if (!acked.ok) throw new Error();
    expect(acked.sender.peerAck).toBe(3);
    expect(acked.sender.allocate().seq).toBe(LINK_WINDOW + 1);
  });

  it('acks are a maximum; acks for unsent seqs are refused', () => {
    let s = sender(0, 1);
    for (let k = 0; k < 5; k++) s = s.allocate().sender;
    const a4 = s.acknowledge(4);
    if (!a4.ok) throw new Error();
    const a2 = a4.sender.acknowledge(2);
    expect(a2.ok && !a2.advanced && a2.sender === a4.sender).toBe(true);
    expect(a4.sender.acknowledge(6)).toMatchObject({ ok: false, code: 'ack-ahead' });
    expect(s.acknowledge(5)).toMatchObject({ ok: true, advanced: true });
    expect(linkError(() => s.acknowledge(-1))).toBe('bad-argument');
  });

  it('the receiver’s contiguous ack flows back and drives the sender', () => {
    let s01 = sender(0, 1);
    const s10 = sender(1, 0);
    let r01 = receiver(0, 1);
    const r10 = receiver(1, 0);
    for (let k = 0; k < 3; k++) {
      const a = s01.allocate();
      s01 = a.sender;
      const v = r01.check(s01.seal(a.seq, utf8ToBytes('m'), r10.contiguousAck));
      if (!v.ok) throw new Error(v.message);
      r01 = r01.commit(v.seq);
    }
    // 1 answers (HTTP response body) with an ack-only frame
    const v = r10.check(s10.sealAck(r01.contiguousAck));
    if (!v.ok) throw new Error(v.message);
    expect(r10.commit(v.seq)).toBe(r10);
    const acked = s01.acknowledge(v.ack);
    expect(acked.ok && acked.sender.peerAck).toBe(3);
    expect(acked.ok && acked.sender.unacked).toBe(0);
  });

  it('state round-trips through JSON, and restoring refuses anything not strictly valid', () => {
    let s = sender(0, 1);
    for (let k = 0; k < 7; k++) s = s.allocate().sender;
    const a = s.acknowledge(4);
    if (!a.ok) throw new Error();
    const json = clone(a.sender.toJSON());
    expect(json).toEqual({ next: 8, peerAck: 4 });
    const back = LinkSender.fromJSON(out_(0, 1), json);
    expect(toHex(back.seal(6, utf8ToBytes('p'), 1))).toBe(toHex(a.sender.seal(6, utf8ToBytes('p'), 1)));
    for (const bad of [
      null,
      { next: 8 },
      { next: 8, peerAck: 4, x: 0 },
      { next: 0, peerAck: 0 },
      { next: 8, peerAck: 8 },
      { next: 8, peerAck: -1 },
      { next: '8', peerAck: 4 },
      { next: LINK_WINDOW + 2, peerAck: 0 },
    ]) {
      expect(linkError(() => LinkSender.fromJSON(out_(0, 1), bad)), JSON.stringify(bad)).toBe('bad-state');
    }
  });
});

describe('properties', () => {
  it('contiguousAck', () => {
    expect(contiguousAck([])).toBe(0);
    expect(contiguousAck([2, 3])).toBe(0);
    expect(contiguousAck([3, 1, 2, 5])).toBe(3);
    expect(contiguousAck([6, 7], 5)).toBe(7);
  });

  /** Delivers `schedule` (indices into fs, with duplicates), retransmitting refused-as-ahead frames later. */
  function deliver(fs: Uint8Array[], schedule: number[], persistEvery: number): { accepted: number[]; rx: LinkReceiver } {
    let rx = receiver(0, 1);
    const accepted: number[] = [];
    const queue = [...schedule];
    let step = 0;
    for (let q = 0; q < queue.length; q++) {
      const k = queue[q]!;
      const v = rx.check(fs[k]!);
      if (v.ok) {
        accepted.push(v.seq);
        rx = rx.commit(v.seq);
      } else if (v.code === 'ahead') queue.push(k);
      else expect(v.code).toBe('replay');
      if (++step % persistEvery === 0) rx = LinkReceiver.fromJSON(in_(0, 1), clone(rx.toJSON())); // crash + restore
    }
    return { accepted, rx };
  }

  /** Every index 0..n-1 at least once, some twice or more, in random order. */
  const scheduleOf = (n: number, maxDups = 2 * n) =>
    fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: maxDups }).chain((dups) => {
      const all = [...Array.from({ length: n }, (_, i) => i), ...dups];
      return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
    });

  it('random reorder + duplicates: every seq accepted exactly once, ack reaches the end (frames)', () => {
    const all = frames(0, 1, 120);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 120 }).chain((n) => fc.tuple(fc.constant(n), scheduleOf(n), fc.integer({ min: 1, max: 50 }))), ([n, schedule, every]) => {
        const { accepted, rx } = deliver(all.slice(0, n), schedule, every);
        expect([...accepted].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        expect(rx.contiguousAck).toBe(n);
        expect(rx.pending).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('random reorder + duplicates across several windows (window only, 5000 seqs)', () => {
    fc.assert(
      fc.property(scheduleOf(5000, 2000), (schedule) => {
        let w = ReceiveWindow.EMPTY;
        const count = new Uint8Array(5001);
        const queue = schedule.map((k) => k + 1);
        let maxPending = 0;
        for (let q = 0; q < queue.length; q++) {
          const seq = queue[q]!;
          const v = w.verdict(seq);
          if (v === 'fresh') {
            count[seq]!++;
            w = w.accept(seq);
            if (q % 97 === 0) maxPending = Math.max(maxPending, w.pending.length);
          } else if (v === 'ahead') queue.push(seq);
        }
        expect(maxPending).toBeLessThan(LINK_WINDOW);
        expect(count.subarray(1).every((c) => c === 1)).toBe(true);
        expect(w.ack).toBe(5000);
      }),
      { numRuns: 10 },
    );
  });

  it('no random mutation of a valid frame is accepted', () => {
    const [f] = frames(0, 1, 1);
    const rs = receiversAt(1);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: -40, max: 40 }), (flips, resize) => {
        let b = f!.slice();
        for (const [at, x] of flips) flip(b, at % b.length, x);
        if (resize < 0) b = b.subarray(0, Math.max(0, b.length + resize));
        else if (resize > 0) b = Uint8Array.from([...b, ...new Uint8Array(resize)]);
        fc.pre(toHex(b) !== toHex(f!));
        expect(checkFrame(b, rs).ok).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary bytes: never accepted, never a throw', () => {
    const rs = receiversAt(1);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 89, maxLength: 95 }).map((b) => (b[0] = 1, b))), (b) => {
        const v = checkFrame(b, rs);
        expect(v.ok).toBe(false);
        if (!v.ok) expect(LINK_REJECT_CODES).toContain(v.code);
      }),
      { numRuns: 2000 },
    );
  });
});
