/**
 * Regression (issue 13, bug 2): a lagging replica that completes epochs e and e + 1 in one step, with
 * e + 1 waiting on its own decryption share, must append e before e + 1. The engine used to handle its
 * own messages depth-first, inside the step that made them: its own share completed e + 1 and appended
 * it before the outer step appended e, so its log diverged for good (and it never certified again).
 * Insecure test crypto (same control flow), so the schedule runs in milliseconds.
 */
import { describe, expect, it } from 'vitest';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { insecureTestDecryptor, insecureTestEncrypt } from '../../shared/protocols/crypto-suite.ts';
import { parseInstanceTag } from '../../shared/protocols/instance-tag.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import type { EngineEvent, LogAppend } from '../../shared/replica/engine.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { threshold } from '../helpers/net.ts';

interface InFlight {
  readonly from: number;
  readonly to: number;
  readonly msg: Message;
}

describe('ReplicaEngine: epochs are appended in order', () => {
  it('a laggard finishing epochs 0 and 1 in one step appends 0 first (its own share completes 1)', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const ctxs = threshold(4, 1);
      const groupId = new Uint8Array(32).fill(9);
      const engines = ctxs.map((c) => new ReplicaEngine(c, {}, insecureTestDecryptor(groupId, c.me, c.crypto.kernel.scheme)));
      const appended: LogAppend[][] = engines.map(() => []);
      const queue: InFlight[] = [];
      const rng = new Rng(seed);
      const apply = (at: number, ev: EngineEvent) => {
        const s = engines[at]!.handle(ev);
        appended[at]!.push(...s.appended);
        for (const o of s.outgoing) queue.push({ from: at, to: o.to, msg: o.msg });
        return s;
      };
      const run = (hold: (m: InFlight) => boolean) => {
        for (let i = 0; ; i++) {
          expect(i).toBeLessThan(200_000);
          const free = queue.filter((m) => !hold(m));
          if (free.length === 0) return;
          const m = free[rng.int(free.length)]!;
          queue.splice(queue.indexOf(m), 1);
          if (apply(m.to, { kind: 'peer', from: m.from, msg: m.msg }).deferred) queue.push(m);
        }
      };
      const idOf = (m: InFlight) => parseInstanceTag(m.msg.tag, 4);
      const abEpochOf = (m: InFlight) => {
        const id = idOf(m);
        return id?.kind === 'cbc' || id?.kind === 'aba' ? id.epoch : null;
      };
      // Replica 3 lags: nothing of epoch 0 reaches it, and of epoch 1's decryption shares only replica 0's.
      const lag = (m: InFlight) => m.to === 3 && (abEpochOf(m) === 0 || (m.msg.tag === 'dec/1' && m.from !== 0));

      for (let i = 0; i < 3; i++) apply(i, { kind: 'submit', request: utf8ToBytes(`plain ${seed}/${i}`) });
      run(lag);
      expect(engines.slice(0, 3).every((e) => e.ab.currentEpoch === 1)).toBe(true);
      const ct = insecureTestEncrypt(groupId, utf8ToBytes('client'), utf8ToBytes(`sealed ${seed}`));
      for (let i = 0; i < 3; i++) apply(i, { kind: 'submit-encrypted', ciphertext: ct });
      run(lag);
      // Epoch 1 is agreed at replica 3 too, but it cannot deliver before epoch 0.
      expect(engines.slice(0, 3).every((e) => e.log.size === 4)).toBe(true);
      expect(engines[3]!.log.size).toBe(0);
      // Now epoch 0 reaches it (the other shares of epoch 1 still do not): both epochs in one step.
      run((m) => m.to === 3 && m.msg.tag === 'dec/1' && m.from !== 0);
      run(() => false);
      const logs = engines.map((e) => toHex(e.log.root()));
      expect(new Set(logs).size).toBe(1);
      expect(appended[3]!.map((a) => a.epoch)).toEqual(appended[0]!.map((a) => a.epoch));
      expect(appended[3]!.map((a) => a.index)).toEqual([0, 1, 2, 3]);
      expect(engines.map((e) => e.latestCheckpoint?.size)).toEqual([4, 4, 4, 4]);
    }
  });
});
