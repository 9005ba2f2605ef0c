/**
 * Gathering threshold signature shares from the peers' public share routes (the randomness beacon's
 * GET /v1/beacon/shares/{round}, the signing service's GET /v1/sign/shares/{id}): every peer is asked at
 * once; each answer is parsed and verified against the signer's verification key (a bad one is reported
 * as that peer's fault and dropped); a peer that says "not yet" (its clock is behind, or it has not
 * executed the request yet) is asked again; it ends as soon as the valid shares are a qualified set, or at
 * the deadline, so a silent or slow peer holds nobody up.
 *
 * Why no link MAC on these routes: a share is publicly verifiable, so one that verifies is the signer's
 * whatever path brought it, and one that does not is refused.
 */
/** GET one of a peer's routes as JSON (the adapter's PeerTransport.get). */
export type PeerGet = (to: number, path: string) => Promise<{ readonly status: number; readonly body: unknown }>;

/** T: a share as its scheme has it (threshold BLS, threshold RSA). */
export interface GatherOptions<T> {
  readonly peers: readonly number[];
  readonly get: PeerGet;
  readonly path: string;
  /** Whether the valid shares so far (by signer) are a qualified set. */
  readonly qualified: (signers: Iterable<number>) => boolean;
  /** Shares already held (our own, verified), by signer. */
  readonly valid: Map<number, T>;
  /** A 404 answer that means "ask again soon" (the error code of it), e.g. round-not-due. */
  readonly notYet: string;
  /** The answer's share, or why it is not one (JSON shape, wrong signer). */
  readonly parse: (peer: number, body: unknown) => T | string;
  /** Null for a share that verifies against its signer's verification key, else why not. */
  readonly check: (share: T) => string | null;
  readonly fault: (peer: number, reason: string) => void;
  readonly now: () => number;
  readonly deadline: number;
  readonly retryMs: number;
}

/** Fills `o.valid`; returns the peers that gave no share and why (unreachable, HTTP errors). */
export async function gatherShares<T>(o: GatherOptions<T>): Promise<string[]> {
  const unreachable: string[] = [];
  const qualified = () => o.qualified(o.valid.keys());
  if (qualified()) return unreachable;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await new Promise<void>((resolve) => {
    let open = 0;
    const finish = () => {
      if (--open === 0 || qualified()) resolve();
    };
    const ask = async (peer: number): Promise<void> => {
      for (;;) {
        if (qualified()) return;
        let a: { readonly status: number; readonly body: unknown };
        try {
          a = await o.get(peer, o.path);
        } catch (e) {
          unreachable.push(`${peer}: ${e instanceof Error ? e.message : String(e)}`);
          return;
        }
        if (a.status === 404 && (a.body as { error?: { code?: unknown } } | null)?.error?.code === o.notYet && o.now() + o.retryMs < o.deadline) {
          await new Promise<void>((r) => setTimeout(r, o.retryMs));
          continue;
        }
        if (a.status !== 200) {
          unreachable.push(`${peer}: HTTP ${a.status}`);
          return;
        }
        const s = o.parse(peer, a.body);
        if (typeof s === 'string') return o.fault(peer, s);
        const bad = o.check(s);
        if (bad !== null) return o.fault(peer, bad);
        o.valid.set(peer, s);
        return;
      }
    };
    for (const peer of o.peers) {
      open++;
      void ask(peer).finally(finish);
    }
    if (open === 0) resolve();
    timer = setTimeout(resolve, Math.max(0, o.deadline - o.now()));
  });
  if (timer !== undefined) clearTimeout(timer);
  return unreachable;
}
