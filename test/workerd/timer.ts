import type { Timer } from './scenario.ts';

/** A Timer that records wall-clock milliseconds per label (first call of each label only). */
export function recordingTimer(): { time: Timer; report: () => Record<string, number> } {
  const ms = new Map<string, number>();
  const time: Timer = (label, f) => {
    const t0 = performance.now();
    const out = f();
    if (!ms.has(label)) ms.set(label, Math.round((performance.now() - t0) * 10) / 10);
    return out;
  };
  return { time, report: () => Object.fromEntries(ms) };
}
