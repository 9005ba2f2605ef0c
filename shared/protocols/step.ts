/**
 * The result of feeding one input or one message to a protocol instance (the hbbft `Step`): messages to
 * send, values delivered, and faults observed. A Byzantine peer's bad message becomes a recorded Fault,
 * never an exception. Protocols are pure: no I/O, no clock, no global randomness.
 */
import type { Message } from './messages.ts';

/** `'all'` means every replica, including the sender itself (self-delivery goes through the same path). */
export type Target = number | 'all';

export interface Outgoing {
  readonly to: Target;
  readonly msg: Message;
}

export type FaultKind =
  | 'malformed' // fields of the wrong shape or size
  | 'duplicate' // the same message twice where once is the rule
  | 'equivocation' // two different messages where one is allowed
  | 'invalid-share' // signature, coin or decryption share that fails verification
  | 'invalid-proof' // a combined signature or proof that does not verify
  | 'invalid-value' // a value that fails the external validity predicate
  | 'unexpected' // a message this peer should never send in this role or state
  | 'out-of-window'; // refused: too far in the future (not necessarily malicious)

export interface Fault {
  readonly peer: number;
  readonly tag: string;
  readonly kind: FaultKind;
  readonly detail: string;
}

export class Step<O> {
  readonly messages: Outgoing[] = [];
  readonly outputs: O[] = [];
  readonly faults: Fault[] = [];
  /**
   * Set when the message was not accepted *yet* (an instance beyond the bounded window): the transport
   * must not acknowledge it, so the sender retransmits later. Nothing was stored for it.
   */
  deferred = false;
  /**
   * Set when the message changed nothing at all (an instance long finished or garbage-collected, a repeat
   * of what was already taken): the transport acknowledges it without journaling it, so a peer cannot make
   * an honest replica store what it sends. Only set where the protocol's state provably did not change:
   * replaying the journal without such a message must give the same state.
   */
  unchanged = false;

  /** Marks the step as changing nothing (see `unchanged`). */
  ignore(): this {
    this.unchanged = true;
    return this;
  }

  send(to: number, msg: Message): this {
    this.messages.push({ to, msg });
    return this;
  }

  broadcast(msg: Message): this {
    this.messages.push({ to: 'all', msg });
    return this;
  }

  output(o: O): this {
    this.outputs.push(o);
    return this;
  }

  fault(peer: number, tag: string, kind: FaultKind, detail: string): this {
    this.faults.push({ peer, tag, kind, detail });
    return this;
  }

  /** Takes a child's messages and faults; hands each child output to `onOutput`. */
  absorb<C>(child: Step<C>, onOutput?: (o: C) => void): this {
    this.messages.push(...child.messages);
    this.faults.push(...child.faults);
    if (child.deferred) this.deferred = true;
    if (onOutput) for (const o of child.outputs) onOutput(o);
    return this;
  }
}

/** A protocol instance: a deterministic state machine bound to one instance tag. */
export interface Protocol<I, O> {
  readonly tag: string;
  handleInput(input: I): Step<O>;
  handleMessage(from: number, msg: Message): Step<O>;
  /** True once the instance has produced its final output and needs no more messages. */
  readonly terminated: boolean;
}
