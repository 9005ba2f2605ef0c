/**
 * A replica's part in the group's randomness beacon (docs/beacon.md; shared/crypto/beacon.ts): it releases
 * its share of round r only once r is due by its own clock (genesis + (r - 1) x period), and produces a
 * round on request: the stored round if it has one, else its own share plus its peers' (fetched from their
 * GET /v1/beacon/shares/{round}), each verified against its verification key (a bad one is recorded as
 * that peer's fault and skipped), combined as soon as the valid ones are a qualified set, verified under
 * the group beacon key and stored. Production is lazy (on request, or when a peer asks); nothing runs on
 * timers.
 *
 * Why no link MAC: a share is publicly verifiable against the dealt verification keys, so a share that
 * verifies is the signer's whatever path brought it, and one that does not is refused; the link
 * transport's MACs would add nothing to that, and reusing it would mean touching the protocol engine.
 *
 * Clocks decide only when a round is released, never its value: the signature is unique, so every
 * qualified set gives the same round, and t corrupt replicas cannot produce it before an honest replica
 * releases its share.
 */
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { beaconShare, combineBeacon, roundAt, roundPoint, roundTimeMs, verifyBeaconShare } from '../../shared/crypto/beacon.ts';
import type { G1Point } from '../../shared/crypto/curve.ts';
import { decodeSignatureShare, encodeSignatureShare } from '../../shared/crypto/threshold-bls.ts';
import type { KeyShare, SignatureShare } from '../../shared/crypto/threshold-bls.ts';
import type { Group, GroupBeacon } from '../../shared/config/group.ts';
import type { BeaconStore } from './beacon-store.ts';
import { logLine } from './log.ts';
import { ConfigError } from '../../shared/config/group.ts';
import { gatherShares } from './share-gather.ts';
import type { PeerGet } from './share-gather.ts';

export type { PeerGet };

export interface BeaconServiceOptions {
  readonly group: Group;
  /** This replica's index and its beacon key share (ReplicaSecrets.beacon). */
  readonly me: number;
  readonly replicaId: string;
  readonly share: KeyShare;
  readonly store: BeaconStore;
  readonly get: PeerGet;
  readonly now: () => number;
  readonly log?: (line: string) => void;
  /** How long a request waits for a qualified set of shares (default 10 s). */
  readonly gatherTimeoutMs?: number;
}

/** A peer's misbehaviour: an answer that is not a valid share of the round asked for. */
export interface BeaconFault {
  readonly replica: number;
  readonly round: number;
  readonly reason: string;
  readonly at: number;
}

/** The wire form of GET /v1/beacon/shares/{round}. */
export interface BeaconShareJson {
  readonly round: number;
  readonly replica: number;
  /** encodeSignatureShare (threshold-bls.ts): u16 signer, u16 rows, 48-byte G1 points; hex. */
  readonly share: string;
}

export type BeaconAnswer =
  | { readonly ok: true; readonly round: number; readonly signature: Uint8Array }
  | { readonly ok: false; readonly status: 404 | 503; readonly code: 'round-not-due' | 'beacon-unavailable'; readonly message: string; readonly dueAt?: number };

const SHARE_CACHE = 64;
const FAULTS_KEPT = 256;
/** A peer whose clock is a little behind says "not due": ask it again this often. */
const RETRY_MS = 250;

export class BeaconService {
  readonly chain: GroupBeacon;
  private readonly shares = new Map<number, SignatureShare>();
  private readonly inflight = new Map<number, Promise<BeaconAnswer>>();
  private readonly faultLog: BeaconFault[] = [];

  constructor(private readonly o: BeaconServiceOptions) {
    if (o.group.beacon === undefined) throw new Error('BeaconService: the group has no beacon key');
    if (o.share.replica !== o.me) throw new Error('BeaconService: the key share is not this replica\'s');
    this.chain = o.group.beacon;
  }

  /** The newest round due by this replica's clock (0 before the genesis time). */
  currentRound(): number {
    return roundAt(this.o.now(), this.chain.genesisTime, this.chain.period);
  }

  /** When `round` is due (ms since the epoch). */
  dueAt(round: number): number {
    return roundTimeMs(round, this.chain.genesisTime, this.chain.period);
  }

  /** The newest round this replica produced (combined and stored) since it started, or 0 (metrics). */
  get newestProduced(): number {
    return this.produced;
  }
  private produced = 0;

  /**
   * For timers (Durable Object alarms, Node timers): produces the newest round due by this replica's
   * clock unless it is stored (a round is never produced before it is due: currentRound), and says when
   * the next one is due. Rounds nobody produced in time are produced when first asked for (round()).
   */
  async produceDue(): Promise<{ readonly round: number; readonly ok: boolean; readonly nextAt: number }> {
    const r = this.currentRound();
    let ok = true;
    if (r >= 1) {
      const a = await this.round(r);
      ok = a.ok;
      if (!a.ok) this.o.log?.(logLine('warn', this.o.replicaId, 'beacon-unavailable', a.message, { round: r }));
    }
    return { round: r, ok, nextAt: this.dueAt(r + 1) };
  }

  /** The recorded faults, oldest first (the last 256). */
  faults(): readonly BeaconFault[] {
    return this.faultLog;
  }

  /** This replica's share of `round`, or null while the round is not due by its clock. */
  ownShare(round: number): BeaconShareJson | null {
    if (round > this.currentRound()) return null;
    return { round, replica: this.o.me, share: toHex(encodeSignatureShare(this.shareOf(round))) };
  }

  private shareOf(round: number, h?: G1Point): SignatureShare {
    let s = this.shares.get(round);
    if (!s) {
      s = beaconShare(this.o.share, round, h);
      if (this.shares.size >= SHARE_CACHE) this.shares.delete(this.shares.keys().next().value!);
      this.shares.set(round, s);
    }
    return s;
  }

  /** The newest stored round (for /public/latest when the current one cannot be produced now). */
  latestStored(): Promise<number | null> {
    return this.o.store.latest();
  }

  /** Round `round`: stored, or produced now from a qualified set of shares. */
  async round(round: number): Promise<BeaconAnswer> {
    const stored = await this.o.store.get(round);
    if (stored) return { ok: true, round, signature: stored };
    if (round > this.currentRound()) {
      const dueAt = this.dueAt(round);
      return { ok: false, status: 404, code: 'round-not-due', message: `round ${round} is due at ${new Date(dueAt).toISOString()}`, dueAt };
    }
    let p = this.inflight.get(round);
    if (!p) {
      p = this.produce(round).finally(() => this.inflight.delete(round));
      this.inflight.set(round, p);
    }
    return p;
  }

  private fault(replica: number, round: number, reason: string): void {
    const f: BeaconFault = { replica, round, reason, at: this.o.now() };
    this.faultLog.push(f);
    if (this.faultLog.length > FAULTS_KEPT) this.faultLog.shift();
    this.o.log?.(logLine('warn', this.o.replicaId, 'beacon-fault', `replica ${replica}: ${reason}`, { peer: replica, round }));
  }

  /** A peer's answer as a share of `round` from `peer`, or the reason it is not one. */
  private shareFrom(peer: number, round: number, body: unknown): SignatureShare | string {
    if (typeof body !== 'object' || body === null) return 'answer is not a JSON object';
    const o = body as Record<string, unknown>;
    if (o['round'] !== round) return `answer is for round ${String(o['round'])}, not ${round}`;
    if (o['replica'] !== peer) return `answer names replica ${String(o['replica'])}`;
    const hex = o['share'];
    if (typeof hex !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(hex)) return 'share: expected lower-case hex';
    try {
      const s = decodeSignatureShare(this.chain.key.scheme, fromHex(hex));
      return s.signer === peer ? s : `share is signed as replica ${s.signer}`;
    } catch (e) {
      if (e instanceof CryptoError) return `share: ${e.message}`;
      throw e;
    }
  }

  private async produce(round: number): Promise<BeaconAnswer> {
    const pk = this.chain.key;
    const h = roundPoint(round);
    const valid = new Map<number, SignatureShare>();
    const own = this.shareOf(round, h);
    // Our own share is checked too: a replica with a wrong key share (misconfigured, or corrupted) says so.
    if (verifyBeaconShare(pk, round, own, h)) valid.set(this.o.me, own);
    else this.fault(this.o.me, round, 'own share does not verify against keys.beacon.rowKeys (wrong SINTRA_KEY_SHARES.beacon?)');
    const qualified = () => pk.scheme.isQualified(valid.keys());
    const unreachable = await gatherShares({
      peers: this.o.group.replicas.map((r) => r.index).filter((i) => i !== this.o.me),
      get: this.o.get,
      path: `/v1/beacon/shares/${round}`,
      qualified: (signers) => pk.scheme.isQualified(signers),
      valid,
      // Its clock is behind ours: the round is due there soon.
      notYet: 'round-not-due',
      parse: (peer, body) => this.shareFrom(peer, round, body),
      check: (s) => (verifyBeaconShare(pk, round, s, h) ? null : `share of round ${round} does not verify against keys.beacon.rowKeys`),
      fault: (peer, reason) => this.fault(peer, round, reason),
      now: this.o.now,
      deadline: this.o.now() + (this.o.gatherTimeoutMs ?? 10_000),
      retryMs: RETRY_MS,
    });
    if (!qualified()) {
      return {
        ok: false,
        status: 503,
        code: 'beacon-unavailable',
        message: `round ${round}: valid shares from replicas [${[...valid.keys()].sort((a, b) => a - b).join(',')}] are not a qualified set${unreachable.length ? ` (no share from ${unreachable.join('; ')})` : ''}`,
      };
    }
    // Every share in `valid` verified, so the combination is the unique signature; combineBeacon checks
    // it once more under the group beacon key before it is stored.
    const b = combineBeacon(pk, round, [...valid.values()], h);
    await this.o.store.put(round, b.signature);
    if (round > this.produced) this.produced = round;
    return { ok: true, round, signature: b.signature };
  }
}

/**
 * The adapters' one line: a BeaconService when the group has keys.beacon and this replica its share, else
 * undefined (the beacon routes then answer 404 no-beacon). Without a peer GET it cannot gather shares.
 */
export function beaconServiceFor(
  group: Group,
  secrets: { readonly index: number; readonly id: string; readonly beacon?: KeyShare },
  store: BeaconStore,
  get: PeerGet | undefined,
  now: () => number,
  log?: (line: string) => void,
): BeaconService | undefined {
  if (group.beacon === undefined || secrets.beacon === undefined || get === undefined) return undefined;
  return new BeaconService({ group, me: secrets.index, replicaId: secrets.id, share: secrets.beacon, store, get, now, ...(log ? { log } : {}) });
}

/**
 * SINTRA_BEACON_TIMERS: `on` (the default: each round is produced when it falls due, on a Durable Object
 * alarm or a Node timer) or `off` (rounds are produced only when asked for: no wake-up every period, which
 * an idle deployment may prefer, since each alarm is an invocation). Anything else is refused.
 */
export function beaconTimersOption(value: unknown): { beaconTimers?: boolean } {
  if (value === undefined || value === '') return {};
  if (value === 'on' || value === 'off') return { beaconTimers: value === 'on' };
  throw new ConfigError('SINTRA_BEACON_TIMERS', `expected on or off, got ${JSON.stringify(value)}`);
}
