/**
 * The whole-replica simulator's time line: events ordered by virtual time (ms), ties in insertion order
 * (a binary heap on (time, seq)), so a run is a deterministic function of its seed.
 */
export class EventQueue<E> {
  private readonly heap: { time: number; seq: number; ev: E }[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(time: number, ev: E): void {
    const h = this.heap;
    h.push({ time, seq: this.seq++, ev });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): { time: number; ev: E } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(l, m)) m = l;
        if (r < h.length && this.less(r, m)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return { time: top.time, ev: top.ev };
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.time < y.time || (x.time === y.time && x.seq < y.seq);
  }
}
