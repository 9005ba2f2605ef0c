/**
 * Regression (issue 13, bug 5): a message whose tag is an alias of a real instance's tag (`ab/00/aba/1`
 * for `ab/0/aba/1`, `ab/0/aba/01` for `ab/0/aba/1`) or of no instance at all is refused by the engine as a
 * `malformed` fault naming the sender, and changes nothing: no message goes out, no instance is created,
 * no instance sees it. Tags are signed (coin names, consistent-broadcast proofs, checkpoint signatures), so
 * one instance must have one string. The old hand parsers took `ab/00/...` as epoch 0 (creating the epoch
 * and proposing in it) and routed `ab/0/aba/01` to the agreement `ab/0/aba/1`.
 * Insecure test crypto (same control flow).
 */
import { describe, expect, it } from 'vitest';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import { decodeState, encodeState } from '../../shared/replica/state-codec.ts';
import { threshold } from '../helpers/net.ts';

const SHARE = new Uint8Array(48).fill(1);

/** Non-canonical or unknown tags, each with a body its canonical instance would take. */
const ALIASES: readonly Message[] = [
  { tag: 'ab/00/aba/1', body: { t: 'aba-bval', round: 0, value: 1 } },
  { tag: 'ab/0/aba/01', body: { t: 'aba-bval', round: 0, value: 1 } },
  { tag: 'ab/0/cbc/01', body: { t: 'cbc-send', value: new Uint8Array([0, 0]) } },
  { tag: 'ab/01/cbc/1', body: { t: 'cbc-want' } },
  { tag: 'ab/+0/aba/1', body: { t: 'aba-bval', round: 0, value: 1 } },
  { tag: 'ab/0/aba/1/', body: { t: 'aba-bval', round: 0, value: 1 } },
  { tag: 'ab//0/aba/1', body: { t: 'aba-bval', round: 0, value: 1 } },
  { tag: 'ab/0/aba/4', body: { t: 'aba-bval', round: 0, value: 1 } },
  { tag: 'ab/0/aba', body: { t: 'aba-bval', round: 0, value: 1 } },
  { tag: 'ab/0/acs/cbc/1', body: { t: 'cbc-want' } },
  { tag: 'ab/', body: { t: 'ab-requests', requests: [utf8ToBytes('r')] } },
  { tag: 'dec/00', body: { t: 'dec-shares', first: 0, shares: [SHARE] } },
  { tag: 'dec/0/', body: { t: 'dec-shares', first: 0, shares: [SHARE] } },
  { tag: 'ckpt/007', body: { t: 'ckpt-share', share: SHARE } },
  { tag: 'ckpt/1e3', body: { t: 'ckpt-share', share: SHARE } },
  { tag: 'ckpt/9007199254740992', body: { t: 'ckpt-share', share: SHARE } },
];

/** Everything the engine's protocols hold (not the fault counters, which a refusal increments). */
function protocolState(e: ReplicaEngine): string {
  const { main, parts } = e.snapshotState();
  const s = decodeState(main) as Record<string, unknown>;
  // Guards the comparisons below against comparing nothing (a snapshot layout this helper does not know).
  if (!s['scab'] || !s['certifier']) throw new Error('engine snapshot without scab or certifier');
  return Buffer.from(encodeState({ scab: s['scab'], certifier: s['certifier'], logSize: s['logSize'], parts })).toString('hex');
}

describe('ReplicaEngine: non-canonical instance tags', () => {
  it.each(ALIASES.map((m) => [m.tag, m] as const))('%s is a malformed fault of the sender and changes nothing (idle replica)', (_tag, msg) => {
    const engine = new ReplicaEngine(threshold(4, 1)[0]!);
    const before = protocolState(engine);
    const step = engine.handle({ kind: 'peer', from: 1, msg });
    expect(step.deferred).toBe(false);
    expect(step.outgoing).toEqual([]);
    expect(step.appended).toEqual([]);
    expect(step.faults).toEqual([expect.objectContaining({ peer: 1, tag: msg.tag, kind: 'malformed' })]);
    expect(engine.ab.snapshot().instances.size).toBe(0);
    expect(protocolState(engine)).toBe(before);
  });

  it.each(ALIASES.map((m) => [m.tag, m] as const))('%s never reaches the running epoch 0 (busy replica)', (_tag, msg) => {
    const engine = new ReplicaEngine(threshold(4, 1)[0]!);
    engine.handle({ kind: 'submit', request: utf8ToBytes('a request') });
    expect(engine.ab.snapshot().instances.size).toBe(1);
    const before = protocolState(engine);
    const step = engine.handle({ kind: 'peer', from: 2, msg });
    expect(step.outgoing).toEqual([]);
    expect(step.faults).toEqual([expect.objectContaining({ peer: 2, tag: msg.tag, kind: 'malformed' })]);
    expect(protocolState(engine)).toBe(before);
  });

  it('the canonical spelling of the same message is taken (the control)', () => {
    const engine = new ReplicaEngine(threshold(4, 1)[0]!);
    const before = protocolState(engine);
    const step = engine.handle({ kind: 'peer', from: 1, msg: { tag: 'ab/0/aba/1', body: { t: 'aba-bval', round: 0, value: 1 } } });
    expect(step.faults).toEqual([]);
    expect(step.deferred || step.unchanged).toBe(false);
    // Taken (the agreement stores it), but one peer's message does not start an epoch (issue 13, bug 4).
    expect(step.outgoing).toEqual([]);
    expect(protocolState(engine)).not.toBe(before);
  });
});
