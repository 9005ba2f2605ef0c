/**
 * The whole-replica simulator's time line: events ordered by virtual time (ms), ties in insertion order,
 * so a run is a deterministic function of its seed.
 */
import { MinHeap } from '../heap.ts';

export class EventQueue<E> {
  private readonly heap = new MinHeap<{ time: number; seq: number; ev: E }>((a, b) => a.time < b.time || (a.time === b.time && a.seq < b.seq));
  private seq = 0;

  get size(): number {
    return this.heap.size;
  }

  push(time: number, ev: E): void {
    this.heap.push({ time, seq: this.seq++, ev });
  }

  pop(): { time: number; ev: E } | undefined {
    return this.heap.pop();
  }
}
