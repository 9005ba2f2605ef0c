/**
 * The adversary's network: every message in flight, scheduled by the simulator's seeded adversary.
 * Before GST the in-flight set is an unordered bag (picks are uniform; removal is O(1) swap-remove) plus a
 * heap of delayed messages (dropped-and-retransmitted, deferred, held back). From GST on, everything moves
 * into one FIFO ordered by send id and each delivery picks among the oldest few: fair and bounded, so
 * liveness failures after GST are real.
 */
import type { Message } from '../../shared/protocols/messages.ts';
import type { InFlight } from './types.ts';
import type { Rng } from './rng.ts';
import { MinHeap } from './heap.ts';

interface Delayed {
  readonly at: number;
  readonly m: InFlight;
}

export class Network {
  private items: InFlight[] = [];
  /** Post-GST FIFO head (items before it are consumed). */
  private head = 0;
  /** Delayed messages, earliest first; equal times in send order (deterministic). */
  private readonly delayed = new MinHeap<Delayed>((a, b) => a.at < b.at || (a.at === b.at && a.m.id < b.m.id));
  private nextId = 0;
  private fairMode = false;

  get fair(): boolean {
    return this.fairMode;
  }

  /** Messages deliverable now. */
  get ready(): number {
    return this.items.length - this.head;
  }

  get delayedCount(): number {
    return this.delayed.size;
  }

  get inFlight(): number {
    return this.ready + this.delayed.size;
  }

  send(from: number, to: number, msg: Message, step: number): InFlight {
    const m: InFlight = { from, to, msg, id: this.nextId++, sentAt: step };
    this.items.push(m);
    return m;
  }

  /** Re-inject an existing message (retransmission, deferral): keeps its id unless `fresh`. */
  requeue(m: InFlight, at: number, now: number): void {
    if (this.fairMode || at <= now) this.items.push(m);
    else this.delayed.push({ at, m });
  }

  /** Moves delayed messages whose time has come into the deliverable set. */
  release(now: number): void {
    for (let d = this.delayed.peek(); d && d.at <= now; d = this.delayed.peek()) this.items.push(this.delayed.pop()!.m);
  }

  nextReleaseAt(): number | undefined {
    return this.delayed.peek()?.at;
  }

  /** Pre-GST: a uniformly random deliverable message's index. */
  pickAny(rng: Rng): number {
    return this.head + rng.int(this.ready);
  }

  /** Post-GST: one of the oldest `window` deliverable messages. */
  pickFair(rng: Rng, window: number): number {
    return this.head + rng.int(Math.min(Math.max(1, window), this.ready));
  }

  at(index: number): InFlight {
    return this.items[index]!;
  }

  take(index: number): InFlight {
    const items = this.items;
    const m = items[index]!;
    if (this.fairMode) {
      // Swap with the head and advance it: the rest keeps its (FIFO-ish) order.
      items[index] = items[this.head]!;
      this.head++;
      if (this.head > 1024 && this.head * 2 > items.length) {
        this.items = items.slice(this.head);
        this.head = 0;
      }
    } else {
      items[index] = items[items.length - 1]!;
      items.pop();
    }
    return m;
  }

  /** GST: everything (including delayed messages) into one FIFO ordered by send id. */
  enterFairMode(): void {
    if (this.fairMode) return;
    const all = this.items.slice(this.head).concat(this.delayed.drain().map((d) => d.m));
    all.sort((a, b) => a.id - b.id);
    this.items = all;
    this.head = 0;
    this.fairMode = true;
  }
}
