/**
 * The whole-replica simulator's message fuzzer: well-formed messages (the wire codec accepts them) of any
 * type, for any instance of the engine's instance tree within or just beyond its windows, with random
 * values; and mutated copies of messages the corrupted replica observed. What a Byzantine replica holding
 * real link keys can put into an honest replica's engine. Deterministic from its Rng.
 */
import { encodeMessage } from '../../../shared/codec/message-codec.ts';
import { encodeBatch } from '../../../shared/protocols/batch.ts';
import { formatInstanceTag } from '../../../shared/protocols/instance-tag.ts';
import type { InstanceId } from '../../../shared/protocols/instance-tag.ts';
import type { Body, Message } from '../../../shared/protocols/messages.ts';
import { mutateBody, mutateTag } from '../byzantine.ts';
import type { Rng } from '../rng.ts';

export interface FuzzEnv {
  readonly n: number;
  readonly rng: Rng;
  /** The corrupted replica's own current epoch (its inner honest engine): fuzzing stays near it. */
  epoch(): number;
  readonly maxValueBytes: number;
}

/** Whether the wire codec encodes a message (mutations may produce bodies it refuses). */
export function encodable(m: Message): boolean {
  try {
    encodeMessage(m);
    return true;
  } catch {
    return false;
  }
}

export class Fuzzer {
  private readonly seen: Message[] = [];

  constructor(private readonly env: FuzzEnv) {}

  /** Remember an honest message (to replay and mutate later). */
  observe(m: Message): void {
    const { rng } = this.env;
    if (this.seen.length < 512) this.seen.push(m);
    else this.seen[rng.int(512)] = m;
  }

  /** One fuzzed message: random (60%) or a mutated or re-tagged copy of an observed one. */
  message(): Message {
    const { rng } = this.env;
    if (this.seen.length > 0 && rng.chance(0.4)) {
      const m = rng.pick(this.seen);
      for (let tries = 0; tries < 4; tries++) {
        const tag = rng.chance(0.5) ? m.tag : mutateTag(m.tag, rng);
        const body = rng.chance(0.3) ? m.body : mutateBody(m.body, rng, this.env.maxValueBytes);
        const out = { tag, body };
        if (encodable(out)) return out;
      }
    }
    return this.randomMessage();
  }

  private randomMessage(): Message {
    const { rng, n } = this.env;
    const e = Math.max(0, this.env.epoch() + rng.range(-6, 10));
    const j = rng.chance(0.95) ? rng.int(n) : n + rng.int(3);
    const round = rng.chance(0.85) ? rng.int(8) : rng.chance(0.5) ? rng.int(40) : rng.int(2 ** 31);
    const share = () => (rng.chance(0.8) ? rng.bytes(32) : rng.bytes(rng.int(120)));
    const kind = rng.int(10);
    // Canonical tags built by the one codec; now and then an alias of one (a leading zero, a sign, a
    // trailing slash), which every honest replica must refuse as malformed.
    const tagOf = (id: InstanceId) => {
      // A proposer index past n has no canonical tag: its digits replace those of proposer 0.
      const t = 'proposer' in id && id.proposer >= n ? formatInstanceTag({ ...id, proposer: 0 }).replace(/0$/, String(id.proposer)) : formatInstanceTag(id);
      if (!rng.chance(0.05)) return t;
      return rng.pick([t.replace(/\/(\d)/, '/0$1'), t.replace(/\/(\d)/, '/+$1'), `${t}/`, t.replace('/', '//')]);
    };
    if (kind <= 2) {
      const tag = tagOf({ kind: 'aba', epoch: e, proposer: j });
      const bodies: Body[] = [
        { t: 'aba-bval', round, value: rng.int(2) as 0 | 1 },
        { t: 'aba-aux', round, value: rng.int(2) as 0 | 1 },
        { t: 'aba-conf', round, values: (1 + rng.int(3)) as 1 | 2 | 3 },
        { t: 'aba-coin', round, share: share() },
        { t: 'aba-term', value: rng.int(2) as 0 | 1, round },
      ];
      return { tag, body: rng.pick(bodies) };
    }
    if (kind <= 5) {
      const tag = tagOf({ kind: 'cbc', epoch: e, proposer: j });
      const value = rng.chance(0.7) ? this.batch() : rng.bytes(rng.int(200));
      const bodies: Body[] = [
        { t: 'cbc-send', value },
        { t: 'cbc-echo', share: share() },
        { t: 'cbc-final', value, signature: share() },
        { t: 'cbc-want' },
        { t: 'cbc-proof', signature: share() },
      ];
      return { tag, body: rng.pick(bodies) };
    }
    if (kind === 6) return { tag: formatInstanceTag({ kind: 'ab-requests' }), body: { t: 'ab-requests', requests: Array.from({ length: rng.int(6) }, () => this.request()) } };
    if (kind === 7) return { tag: tagOf({ kind: 'dec', epoch: e }), body: { t: 'dec-shares', first: rng.chance(0.8) ? 0 : rng.int(8), shares: Array.from({ length: rng.int(4) }, share) } };
    if (kind === 8) return { tag: tagOf({ kind: 'ckpt', epoch: e }), body: { t: 'ckpt-share', share: share() } };
    // A body at a tag of another protocol, or a tag of no protocol at all.
    const tag = rng.pick([`ab/${e}`, `ab/${e}/acs/${j}`, `xyz/${e}`, `ckpt/${e}/1`, `dec`, `ab/${e}/cbc`]);
    return { tag, body: { t: 'cbc-echo', share: share() } };
  }

  private request(): Uint8Array {
    const { rng } = this.env;
    const r = rng.bytes(1 + rng.int(rng.chance(0.1) ? 2048 : 64));
    // A plain-request envelope (0x00) mostly, so the junk can be ordered like a client's request.
    if (rng.chance(0.8)) r[0] = 0;
    return r;
  }

  private batch(): Uint8Array {
    const { rng } = this.env;
    return encodeBatch(Array.from({ length: rng.int(4) }, () => this.request()));
  }
}
